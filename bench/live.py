"""Benchmark live: our RTMP -> LL-HLS pipeline beside nginx-rtmp's own HLS (hls_fragment 2s), same run.

    .venv/bin/python bench/live.py [--seconds 30] [--skip-speed]

One publisher (ffmpeg -re, 1280x720 at 30 fps testsrc2 + sine, a keyframe every 2 s as OBS sends)
publishes to our ingest (nginx-rtmp + on_publish + one encoder with three rungs + the packager), then
the same publisher to a plain nginx-rtmp with `hls on; hls_fragment 2s` (the anchor). The origin (the
object store / nginx's hls_path) is polled every 10 ms, so each figure is when a player could first
fetch the media, not when it chose to:
  - ingest -> first playable: publisher start to the first part (ours) / first segment (anchor);
  - availability behind real time, p50/p95: when a part (ours) or segment (anchor) appears, minus the
    moment the publisher sent the end of its media (the publisher runs in real time from its start);
  - transcoder speed: the same live command fed as fast as it can go from a 720p30 file (target >= 1.2x);
  - CPU per stream: CPU seconds of the ingest's encoder per second of wall clock during the live run.
Goals (issue 12): first playable <= 3 s, availability p50 <= 1.5 s / p95 <= 2.5 s, speed >= 1.2x.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import imageio_ffmpeg  # noqa: E402

from streamstack.delivery.live import BlockingRequest, LivePlaylists, NotYetAvailable  # noqa: E402
from streamstack.live.ingest import (  # noqa: E402
    RTMP_MODULE,
    LiveIngest,
    find_nginx,
    nginx_config,
    serve_callbacks,
    start_nginx,
    wait_for_port,
)
from streamstack.live.models import LiveStreamCreate  # noqa: E402
from streamstack.live.service import create_live_stream  # noqa: E402
from streamstack.media.live import LIVE_LADDER, build_live_command, plan_live  # noqa: E402
from streamstack.media.live_packager import LivePackager  # noqa: E402
from streamstack.media.probe import Probe  # noqa: E402
from streamstack.platform import build_platform  # noqa: E402
from streamstack.settings import Settings  # noqa: E402
from streamstack.storage.base import ObjectInfo, ObjectStore  # noqa: E402

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
POLL = 0.01
VIEWERS = 3
_HINT = re.compile(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="(\d+)\.(\d+)\.m4s"')
_PART = re.compile(r'#EXT-X-PART:DURATION=([\d.]+),URI="(\d+)\.(\d+)\.m4s"')
_EXTINF = re.compile(r"#EXTINF:([\d.]+),\s*\n(\S+)")


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def publisher(url: str, seconds: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-b:v", "3M",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "flv", url],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))] if ordered else float("nan")


def watch(path: Path, pattern: re.Pattern[str], started: float, stop: threading.Event) -> dict[str, float]:
    """URI -> wall clock (since publisher start) when the playlist first named it."""
    seen: dict[str, float] = {}
    durations: dict[str, float] = {}
    while not stop.is_set():
        try:
            text = path.read_text()
        except OSError:
            text = ""
        now = time.monotonic() - started
        for match in pattern.finditer(text):
            uri = match.group(2) if pattern is _EXTINF else f"{match.group(2)}.{match.group(3)}"
            if uri not in seen:
                seen[uri], durations[uri] = now, float(match.group(1))
        time.sleep(POLL)
    return {uri: seen[uri] for uri in seen} | {f"dur:{uri}": d for uri, d in durations.items()}


def lags(seen: dict[str, float], publish_seconds: float, recorded_seconds: float) -> tuple[float, dict[str, float]]:
    """First availability, and per unit its availability minus the publisher's send time of its end."""
    units = sorted((t, uri) for uri, t in seen.items() if not uri.startswith("dur:"))
    joined_at = max(0.0, publish_seconds - recorded_seconds)  # the encoder joins the stream at a keyframe
    media_end, out = joined_at, {}
    for available, uri in units:
        media_end += seen[f"dur:{uri}"]
        out[uri] = available - media_end
    return (units[0][0] if units else float("nan")), out


def run_ours(tmp: Path, seconds: int) -> dict[str, float]:
    settings = Settings(data_dir=tmp / "ours", rtmp_port=free_port(), api_port=free_port(), edge_port=free_port(),
                        metrics_enabled=False, log_json=False)  # fmt: skip
    platform = build_platform(settings)
    ingest = LiveIngest(platform, settings.rtmp_port)
    callbacks = serve_callbacks(ingest)
    run_dir = tmp / "ours-nginx"
    nginx = start_nginx(nginx_config(run_dir=run_dir, rtmp_host="127.0.0.1", rtmp_port=settings.rtmp_port,
                                     callback_url=f"http://127.0.0.1:{callbacks.server_address[1]}"), run_dir)
    threading.Thread(target=ingest.supervise, daemon=True).start()
    assert wait_for_port("127.0.0.1", settings.rtmp_port)
    with platform.sessions() as db_session:
        stream = create_live_stream(db_session=db_session, body=LiveStreamCreate(reconnect_window=1),
                                    settings=settings)  # fmt: skip
        db_session.commit()
        key = stream.stream_key
    cpu_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    stop = threading.Event()
    result: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    proc = publisher(f"rtmp://127.0.0.1:{settings.rtmp_port}/live/{key}", seconds)
    playlist: Path | None = None
    while playlist is None and time.monotonic() - started < 30:
        found = list((settings.objects_dir / "assets").glob("*/720p/ll.m3u8"))
        playlist = found[0] if found else None
        time.sleep(POLL)
    assert playlist is not None, "no LL playlist appeared"
    timeline = wait_for_timeline(ingest, started)
    watcher = threading.Thread(target=lambda: result.setdefault("seen", watch(playlist, _PART, started, stop)))
    watcher.start()
    key = playlist.relative_to(settings.objects_dir).as_posix()
    viewers = threading.Thread(target=lambda: result.setdefault("edge", asyncio.run(
        edge_viewers(platform.store, key, started, stop))))  # fmt: skip
    viewers.start()
    _, _, publisher_usage = os.wait4(proc.pid, 0)  # the publisher's own CPU is not the stream's cost
    publish_seconds = time.monotonic() - started
    time.sleep(4)
    stop.set()
    watcher.join()
    viewers.join()
    recorded = sum(v for k, v in result["seen"].items() if k.startswith("dur:"))
    ingest.stop()
    nginx.terminate()
    nginx.wait()
    callbacks.shutdown()
    platform.close()
    cpu_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (cpu_after.ru_utime + cpu_after.ru_stime) - (cpu_before.ru_utime + cpu_before.ru_stime)
    cpu -= publisher_usage.ru_utime + publisher_usage.ru_stime
    first, lag = lags(result["seen"], publish_seconds, recorded)
    edge_seen, origin_reads = result["edge"]
    edge_delay = [edge_seen[uri] - result["seen"][uri] for uri in edge_seen if uri in result["seen"]]
    edge_lag = [lag[uri] + edge_seen[uri] - result["seen"][uri] for uri in edge_seen if uri in lag]
    return {"edge_p50": percentile(edge_lag, 0.5), "edge_p95": percentile(edge_lag, 0.95),
            "edge_delay_p50": percentile(edge_delay, 0.5), "edge_delay_p95": percentile(edge_delay, 0.95),
            "edge_reads_per_part": origin_reads / max(1, len(edge_seen)),
            "edge_reads_per_second": origin_reads / max(1e-9, publish_seconds), "edge_parts": len(edge_seen),
            "first": first, "p50": percentile(list(lag.values()), 0.5),
            "p95": percentile(list(lag.values()), 0.95), "units": len(lag), "cpu": cpu / publish_seconds,
            "timeline": timeline}


class CountingStore:
    """The object store, counting the edge's reads of it (HEAD and GET alike: each is an S3 request)."""

    def __init__(self, store: ObjectStore) -> None:
        self.store, self.reads = store, 0

    def head(self, key: str) -> ObjectInfo:
        self.reads += 1
        return self.store.head(key)

    def get(self, key: str, **kwargs: Any) -> Iterator[bytes]:
        self.reads += 1
        return self.store.get(key, **kwargs)


async def edge_viewers(store: ObjectStore, key: str, started: float, stop: threading.Event,
                       count: int = VIEWERS) -> tuple[dict[str, float], int]:
    """VIEWERS players on the edge's blocking reload, each asking for the hinted part: part -> when answered."""
    counting = CountingStore(store)
    live = LivePlaylists(counting, asyncio.to_thread)  # type: ignore[arg-type]
    answered: dict[str, float] = {}

    async def viewer() -> None:
        body, _ = await live.playlist(key, BlockingRequest())
        while not stop.is_set():
            hint = _HINT.search(body.decode())
            if hint is None:
                return
            msn, part = int(hint.group(1)), int(hint.group(2))
            try:
                body, _ = await live.playlist(key, BlockingRequest(msn, part))
            except NotYetAvailable:
                continue
            for found in _PART.finditer(body.decode()):
                answered.setdefault(f"{found.group(2)}.{found.group(3)}", time.monotonic() - started)

    tasks = [asyncio.create_task(viewer()) for _ in range(count)]
    while not stop.is_set():
        await asyncio.sleep(0.05)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    first = min(answered.values(), default=0.0)  # the first body names earlier parts: count from the first reload
    return {uri: at for uri, at in answered.items() if at > first}, counting.reads


def wait_for_timeline(ingest: LiveIngest, started: float) -> dict[str, float]:
    """Where the first part's time went: each stage of the session's first connection, since publisher start."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        for running in list(ingest.sessions.values()):
            if not hasattr(running.session, "timeline"):
                return {}  # an ingest that does not profile its connections
            if "first_part" in running.session.timeline:
                return {stage: at - started for stage, at in running.session.timeline.items()}
        time.sleep(POLL)
    return {}


def run_anchor(tmp: Path, seconds: int) -> dict[str, float]:
    """nginx-rtmp's own HLS: what a plain nginx-rtmp setup gives (one rendition, no transcode)."""
    port, hls = free_port(), tmp / "anchor-hls"
    hls.mkdir(parents=True)
    conf = tmp / "anchor.conf"
    conf.write_text(f"""daemon off; master_process off; worker_processes 1;
pid {tmp}/anchor.pid; error_log {tmp}/anchor-error.log warn; load_module {RTMP_MODULE};
events {{ worker_connections 64; }}
rtmp {{ server {{ listen 127.0.0.1:{port}; application live {{ live on; hls on; hls_path {hls};
    hls_fragment 2s; hls_playlist_length 20s; }} }} }}
""")
    nginx = subprocess.Popen([str(find_nginx()), "-p", str(tmp), "-e", str(tmp / "anchor-error.log"), "-c", str(conf)])
    assert wait_for_port("127.0.0.1", port)
    stop = threading.Event()
    result: dict[str, dict[str, float]] = {}
    started = time.monotonic()
    watcher = threading.Thread(target=lambda: result.setdefault("seen", watch(hls / "s.m3u8", _EXTINF, started,
                                                                              stop)))  # fmt: skip
    watcher.start()
    publisher(f"rtmp://127.0.0.1:{port}/live/s", seconds).wait()
    publish_seconds = time.monotonic() - started
    time.sleep(3)
    stop.set()
    watcher.join()
    nginx.terminate()
    nginx.wait()
    seen = result["seen"]
    first, lag = lags(seen, publish_seconds, publish_seconds)  # nginx records from the publisher's first frame
    return {"first": first, "p50": percentile(list(lag.values()), 0.5), "p95": percentile(list(lag.values()), 0.95),
            "units": len(lag)}


def transcoder_speed(tmp: Path, seconds: int) -> float:
    """Media seconds per wall second of the live command on a 720p30 file read as fast as possible."""
    source = tmp / "source.flv"
    video = f"testsrc2=size=1280x720:rate=30:duration={seconds}"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-f", "lavfi", "-i", video, "-f", "lavfi", "-i",
                    f"sine=duration={seconds}", "-c:v", "libx264", "-preset", "veryfast", "-g", "60",
                    "-b:v", "3M", "-c:a", "aac", "-f", "flv", str(source)], check=True)  # fmt: skip
    probe = Probe(format_name="flv", duration=0.0, bitrate=None, has_video=True, has_audio=True, width=1280,
                  height=720, frame_rate=30.0, video_stream=0, audio_stream=1, audio_channels=2,
                  audio_sample_rate=48000)  # fmt: skip
    defaults = Settings()
    settings = SimpleNamespace(ladder=None, live_ladder=LIVE_LADDER, max_resolution=None, max_frame_rate=60.0,
                               keyframe_seconds=2.0, live_part_seconds=0.5, live_dvr_window=60.0,
                               live_x264_preset=defaults.live_x264_preset)  # fmt: skip
    plan = plan_live(probe, settings)
    pipes = [os.pipe() for _ in plan.renditions]
    command = build_live_command(["-i", str(source)], probe, plan, [w for _, w in pipes])

    class Discard:
        def put(self, name: str, data: bytes, content_type: str) -> None:
            pass

        def delete(self, name: str) -> None:
            pass

    started = time.monotonic()
    proc = subprocess.Popen([FFMPEG, "-hide_banner", "-nostdin", *command], pass_fds=[w for _, w in pipes])
    for _, write_end in pipes:
        os.close(write_end)
    packager = LivePackager([r.name for r in plan.renditions], Discard(), plan.packaging)
    packager.package_all({r.name: os.fdopen(read, "rb") for r, (read, _) in zip(plan.renditions, pipes, strict=True)})
    proc.wait()
    print(f"  ladder: {', '.join(f'{r.name} {r.width}x{r.height}' for r in plan.renditions)}")
    return seconds / (time.monotonic() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=30)
    parser.add_argument("--skip-speed", action="store_true", help="leave out the transcoder speed run")
    args = parser.parse_args()
    if find_nginx() is None:
        sys.exit("needs nginx with its RTMP module (Debian: nginx libnginx-mod-rtmp)")
    with tempfile.TemporaryDirectory(prefix="bench-live-") as raw:
        tmp = Path(raw)
        ours = run_ours(tmp, args.seconds)
        anchor = run_anchor(tmp, args.seconds)
        speed = float("nan") if args.skip_speed else transcoder_speed(tmp, args.seconds)
    print(f"{'':34}{'streamstack LL-HLS':>20}{'nginx-rtmp hls 2s':>20}   goal")
    print(f"{'ingest -> first playable (s)':34}{ours['first']:>20.2f}{anchor['first']:>20.2f}   <= 3")
    print(f"{'availability behind real time p50':34}{ours['p50']:>20.2f}{anchor['p50']:>20.2f}   <= 1.5")
    print(f"{'availability behind real time p95':34}{ours['p95']:>20.2f}{anchor['p95']:>20.2f}   <= 2.5")
    print(f"{'  (units measured: parts / segments)':34}{ours['units']:>20}{anchor['units']:>20}")
    print(f"{'transcoder speed, 720p30 -> 3 rungs':34}{speed:>19.2f}x{'(no transcode)':>20}   >= 1.2x")
    print(f"{'CPU per stream (cores)':34}{ours['cpu']:>20.2f}{'':>20}")
    print(f"{'edge: availability p50 / p95 (s)':34}{ours['edge_p50']:>11.2f} / {ours['edge_p95']:<6.2f}"
          f"{'':>20}   <= 1.5 / 2.5")
    print(f"{'edge: behind the origin p50 / p95':34}{ours['edge_delay_p50']:>11.3f} / {ours['edge_delay_p95']:<6.3f}"
          f"{'':>20}   <= 0.1")
    print(f"{'edge: origin reads per part':34}{ours['edge_reads_per_part']:>20.1f}"
          f"   ({ours['edge_reads_per_second']:.1f}/s, {ours['edge_parts']} parts, {VIEWERS} viewers)")
    print("first playable, stage by stage (s since the publisher started):")
    for stage, at in ours["timeline"].items():
        print(f"  {stage:32}{at:>20.2f}")


if __name__ == "__main__":
    main()
