"""A live stream for load tests: real encoder output, replayed through the real packager in real time.

    python -m loadtest.publisher --data-dir D --live-asset A [--vod-asset V] --seconds S --log L

Encoding a live ladder takes a core or more, which a 2-core machine needs for the edge and the viewers. So a
short clip is encoded once with the live encoder's own command (`build_live_command`: the ladder, the
fragment duration), and its fragments are fed, looped, at their real pace, to a `LiveSession`'s packager:
the store receives the same parts, segments and playlist versions, in the same order and cadence, as from
a publisher. The media timestamps repeat every loop (a decoder would notice; the edge and the viewers,
who do not decode, cannot). The same clip, packaged as fast as it goes and finished, is the VOD asset.

Every publication of the LL playlist (a new part) and of the standard playlist (a new segment) is logged
with its wall-clock time: the simulator measures how long after publication each viewer was answered.
"""

from __future__ import annotations

import argparse
import io
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import TextIO

from streamstack.delivery.live import live_edge_of
from streamstack.live.session import LiveSession, StoreSink, probe_head
from streamstack.media.fmp4 import Fragment, FragmentReader
from streamstack.media.live import build_live_command, plan_live
from streamstack.media.live_packager import LOW_LATENCY_PLAYLIST, STANDARD_PLAYLIST, LivePackager
from streamstack.media.probe import Probe
from streamstack.media.safety import ffmpeg_exe
from streamstack.platform import build_platform
from streamstack.settings import Settings

VOD_LOOPS = 8  # the VOD asset: this many clips back to back


class Clip:
    """One encoder run's output per rendition: its init segment and its fragments (one per part)."""

    def __init__(self, probe: Probe, renditions: dict[str, tuple[bytes, list[Fragment]]]) -> None:
        self.probe, self.renditions = probe, renditions

    @property
    def length(self) -> int:
        return min(len(fragments) for _, fragments in self.renditions.values())


def encode_clip(workdir: Path, settings: Settings, *, seconds: int, height: int) -> Clip:
    """testsrc2 + sine as a publisher sends it (x264, keyframe every 2 s), through the live encoder's command."""
    source = workdir / "source.flv"
    width = height * 16 // 9 // 2 * 2
    subprocess.run(
        [ffmpeg_exe(), "-v", "error", "-y", "-f", "lavfi", "-i",
         f"testsrc2=size={width}x{height}:rate=30:duration={seconds}", "-f", "lavfi", "-i",
         f"sine=frequency=440:sample_rate=48000:duration={seconds}", "-c:v", "libx264", "-preset", "veryfast",
         "-g", "60", "-b:v", "3M", "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", str(source)],
        check=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    probe = probe_head(source.read_bytes())
    if probe is None:
        raise RuntimeError("the encoded clip has no video")
    plan = plan_live(probe, settings)
    pipes = [os.pipe() for _ in plan.renditions]
    command = build_live_command(["-i", str(source)], probe, plan, [write for _, write in pipes])
    process = subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", *command],
                               pass_fds=[write for _, write in pipes])  # fmt: skip
    outputs: dict[str, bytes] = {}

    def drain(name: str, read: int) -> None:
        with os.fdopen(read, "rb") as stream:
            outputs[name] = stream.read()

    readers = [threading.Thread(target=drain, args=(r.name, read)) for r, (read, _) in zip(plan.renditions, pipes,
                                                                                          strict=True)]  # fmt: skip
    for _, write in pipes:
        os.close(write)
    for thread in readers:
        thread.start()
    for thread in readers:
        thread.join()
    if process.wait() != 0:
        raise RuntimeError(f"the live encoder failed ({process.returncode})")
    renditions = {}
    for name, data in outputs.items():
        reader = FragmentReader(io.BytesIO(data))
        renditions[name] = (reader.read_init(), list(reader.fragments()))
    return Clip(probe, renditions)


class StampingSink(StoreSink):
    """The session's store sink, logging when each part and segment became listed (the playlist's write)."""

    def __init__(self, sink: StoreSink, log: TextIO) -> None:
        super().__init__(sink.store, sink.prefix)
        self.log = log
        self.seen: dict[tuple[str, str], tuple[int, int]] = {}

    def put(self, name: str, data: bytes, content_type: str) -> None:
        super().put(name, data, content_type)
        rendition, _, playlist = name.rpartition("/")
        if playlist not in (LOW_LATENCY_PLAYLIST, STANDARD_PLAYLIST):
            return
        edge = live_edge_of(data)
        newest = (edge.last_msn, edge.last_part) if playlist == LOW_LATENCY_PLAYLIST else (edge.complete_msn, -1)
        if self.seen.get((rendition, playlist)) != newest:
            self.seen[rendition, playlist] = newest
            kind = "part" if playlist == LOW_LATENCY_PLAYLIST else "segment"
            self.log.write(f"{kind} {rendition} {newest[0]} {newest[1]} {time.time():.6f}\n")


def packager_of(session: LiveSession, clip: Clip) -> LivePackager:
    """The session's packager, planned from the clip's probe as from a first connection's (masters published)."""
    session.prepare(clip.probe)
    assert session.packager is not None
    return session.packager


def package_vod(session: LiveSession, clip: Clip) -> None:
    """The clip, looped, packaged as fast as it goes and finished: a VOD asset made by the live-to-VOD path."""
    packager = packager_of(session, clip)
    for name, (init, fragments) in clip.renditions.items():
        packager.renditions[name].start_connection(init)
        for _ in range(VOD_LOOPS):
            for fragment in fragments[: clip.length]:
                packager.renditions[name].add(fragment)
    session.finish()


def publish_live(session: LiveSession, clip: Clip, seconds: float) -> int:
    """Feed one fragment per rendition every part duration, on a fixed schedule (no drift); returns parts sent."""
    packager = packager_of(session, clip)
    for name, (init, _) in clip.renditions.items():
        packager.renditions[name].start_connection(init)
    started = time.monotonic()
    media = 0.0
    index = 0
    while time.monotonic() - started < seconds:
        batch = {name: fragments[index % clip.length] for name, (_, fragments) in clip.renditions.items()}
        media += next(iter(batch.values())).duration
        delay = started + media - time.monotonic()
        if delay > 0:
            time.sleep(delay)  # the part's media has now "happened": publish it, as the encoder would
        for name, fragment in batch.items():
            packager.renditions[name].add(fragment)
        index += 1
    return index


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--live-asset", required=True)
    parser.add_argument("--vod-asset", help="also package the clip as this VOD asset")
    parser.add_argument("--seconds", type=float, required=True, help="how long to publish live")
    parser.add_argument("--clip-seconds", type=int, default=4)
    parser.add_argument("--height", type=int, default=720, help="source height: the ladder follows it")
    parser.add_argument("--log", type=Path, required=True, help="publication log (appended, one line per part)")
    args = parser.parse_args(argv)
    settings = Settings(data_dir=args.data_dir, metrics_enabled=False, auto_migrate=False)
    platform = build_platform(settings, with_queues=False)
    with tempfile.TemporaryDirectory(prefix="loadtest-clip-") as workdir:
        clip = encode_clip(Path(workdir), settings, seconds=args.clip_seconds, height=args.height)
    if args.vod_asset:
        package_vod(LiveSession(asset_id=args.vod_asset, store=platform.store, settings=settings, low_latency=True,
                                sessions=platform.sessions), clip)  # fmt: skip
    with args.log.open("a", buffering=1) as log:
        session = LiveSession(asset_id=args.live_asset, store=platform.store, settings=settings, low_latency=True,
                              sessions=platform.sessions)  # fmt: skip
        session.sink = StampingSink(session.sink, log)
        log.write(f"ready {' '.join(clip.renditions)} {time.time():.6f}\n")
        publish_live(session, clip, args.seconds)
    platform.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
