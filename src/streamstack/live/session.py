"""One live session: the packager that lives as long as the recording, and one encoder per publisher connection.

A reconnect within the window runs a new encoder into the same packager (a discontinuity, the same
media sequence, the same asset); the ladder of the first connection is kept so playlists stay stable.
Where ingest tasks share a load balancer the reconnect may land on another process: the session then
hands its packager's state over through the store (`hand_over`) and that process takes it over (`take_over`);
from an ingest that died without a hand-over, it takes the state from the playlists that ingest published.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import select
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import m3u8
from sqlalchemy.orm import Session, sessionmaker

from streamstack.assets.models import Asset, Rendition
from streamstack.live.fanout import FlvFanout
from streamstack.live.telemetry import LiveFigures, StreamTelemetry, live_edge_latency, progress_args
from streamstack.media.encoder import FfmpegLiveEncoder, LiveEncoder
from streamstack.media.errors import MediaError, ProbeError
from streamstack.media.flv import probe_flv_head
from streamstack.media.hls import START_TAG, Variant, master_playlist
from streamstack.media.live import LiveEncodePlan, relay_command
from streamstack.media.live_packager import (
    LOW_LATENCY_PLAYLIST,
    PLAYLIST_TYPE,
    RECORDING_PLAYLIST,
    STANDARD_PLAYLIST,
    LivePackager,
    PackagingPlan,
    state_from_playlists,
)
from streamstack.media.mp4 import build_recording_mp4_command, concat_listing, pick_static_rendition, static_mp4_name
from streamstack.media.probe import Probe, parse_probe_output
from streamstack.media.safety import ffmpeg_exe, input_args, run_ffmpeg, stderr_reason
from streamstack.observability import metrics
from streamstack.settings import Settings
from streamstack.storage.base import ObjectNotFound, ObjectStore, StorageUnavailable, delete_prefix
from streamstack.storage.keys import LIVE_MASTER_NAMES, MASTER_NAME, asset_object_key, asset_prefix

log = logging.getLogger("streamstack.live")
PROBE_TIMEOUT_SECONDS = 15.0
PROBE_POLL_SECONDS = 0.25
PROBE_FIRST_BYTES = 48 * 1024
PROBE_MAX_BYTES = 16 * 1024 * 1024
STATIC_MP4_TIMEOUT_SECONDS = 3600.0
SECOND_SIGNAL_SECONDS = 0.3  # apart, so the two SIGTERMs are two signals, not one pending
HANDOVER_NAME = "handover.json"  # beside the session's playlists while no ingest holds it
ENCODER_DRAIN_SECONDS = 5.0  # an encoder whose input ended flushes its last fragment within this, or is killed


class StoreSink:
    """The packager's output into the object store, below the recording asset's prefix."""

    def __init__(self, store: ObjectStore, prefix: str) -> None:
        self.store, self.prefix = store, prefix

    def put(self, name: str, data: bytes, content_type: str) -> None:
        self.store.put(self.prefix + name, [data], content_type=content_type)

    def delete(self, name: str) -> None:
        self.store.delete(self.prefix + name)

    def get(self, name: str) -> bytes | None:
        try:
            return b"".join(self.store.get(self.prefix + name))
        except ObjectNotFound:
            return None
        except StorageUnavailable as exc:  # S3 without ListBucket answers a missing key with AccessDenied
            log.warning("%s%s could not be read: %s", self.prefix, name, exc)
            return None


def probe_head(head: bytes) -> Probe | None:
    """The stream's video size, rate and audio from its first bytes; None while they do not tell yet."""
    with tempfile.TemporaryDirectory(prefix="streamstack-live-probe-") as workdir:
        path = Path(workdir) / "head.flv"
        path.write_bytes(head)
        run = subprocess.run([ffmpeg_exe(), "-hide_banner", "-nostdin", "-v", "info", *input_args(path)],
                             capture_output=True, text=True, timeout=PROBE_TIMEOUT_SECONDS,
                             stdin=subprocess.DEVNULL)  # fmt: skip
    if "Stream #0" not in run.stderr:
        return None
    try:
        probe = parse_probe_output(run.stderr, live=True)
    except ProbeError:
        return None
    return probe if probe.has_video and probe.width > 0 else None


def read_until_probed(stream: IO[bytes], limit: int = PROBE_MAX_BYTES,
                      on_first_bytes: Callable[[], None] = lambda: None,
                      no_video: Callable[[], str | None] = lambda: None) -> tuple[bytes, Probe]:
    """Buffer the relay's output until its FLV metadata, or else an ffmpeg probe of it, names the video.

    While the relay is silent, `no_video` is asked every PROBE_POLL_SECONDS whether the ingest already knows
    the stream has no video (nginx's view of an RTMP publisher): then it is refused at once with that reason."""
    head = b""
    next_probe = PROBE_FIRST_BYTES
    deadline = time.monotonic() + PROBE_TIMEOUT_SECONDS
    while len(head) < limit:
        if not select.select([stream], [], [], min(PROBE_POLL_SECONDS, max(0.0, deadline - time.monotonic())))[0]:
            if not head and (reason := no_video()):
                raise ProbeError("no_video", reason)
            if time.monotonic() >= deadline:
                raise ProbeError("no_video", "The stream sent no media in time.")
            continue
        chunk = os.read(stream.fileno(), 65536)
        if not chunk:
            break
        if not head:
            on_first_bytes()
        head += chunk
        if len(head) < PROBE_FIRST_BYTES and (probe := probe_flv_head(head)) is not None:
            return head, probe
        if len(head) >= next_probe:
            probe = probe_head(head)
            if probe is not None:
                return head, probe
            next_probe = len(head) + PROBE_FIRST_BYTES
    probe = probe_head(head) if head else None
    if probe is None:
        raise ProbeError("no_video", "The stream carries no video (or none ffmpeg can read).")
    return head, probe


class Relay(subprocess.Popen[bytes]):
    """The relay's process, and the read end of its `-progress` pipe (ingest bitrate, frame rate, stalls)."""

    progress: IO[bytes] | None = None


def start_relay(url: str, protocol: str, *, max_seconds: float | None = None) -> Relay:
    """One publisher connection remuxed to FLV on the relay's stdout (RTMP pulled from nginx, SRT listened for)."""
    progress_read, progress_write = os.pipe()
    try:
        relay = Relay(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", *progress_args(progress_write),
             *relay_command(url, protocol, max_seconds=max_seconds)], pass_fds=[progress_write],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
    except BaseException:
        os.close(progress_read)
        raise
    finally:
        os.close(progress_write)
    relay.progress = os.fdopen(progress_read, "rb")
    return relay


@dataclass
class ConnectionResult:
    fragments: int
    seconds: float
    error: str | None = None


class LiveSession:
    """The session's packager (recording into an asset, or live only) and the encoder of the current connection."""

    def __init__(self, *, asset_id: str | None, store: ObjectStore, settings: Settings, low_latency: bool,
                 sessions: sessionmaker[Session], encoder: LiveEncoder | None = None,
                 prefix: str | None = None) -> None:
        if prefix is None and asset_id is None:
            raise ValueError("an unrecorded session needs its own prefix")
        self.asset_id = asset_id
        self.recording = asset_id is not None
        self.prefix = prefix or asset_prefix(str(asset_id))
        self.encoder: LiveEncoder = encoder or FfmpegLiveEncoder(settings)
        self.store = store
        self.settings = settings
        self.low_latency = low_latency
        self.sessions = sessions
        self.telemetry = StreamTelemetry()
        self.fanout = FlvFanout()  # the current connection's FLV, for simulcast restreams
        self.sink = StoreSink(store, self.prefix)
        self.plan: LiveEncodePlan | None = None
        self.packager: LivePackager | None = None
        self.process: subprocess.Popen[bytes] | None = None
        self.relay: subprocess.Popen[bytes] | None = None
        self.ending: subprocess.Popen[bytes] | None = None  # the encoder being drained by end_input
        self.media_seconds = 0.0
        self.timeline: dict[str, float] = {}  # stage -> monotonic time, for the current connection
        self.lock = threading.Lock()

    def mark(self, stage: str) -> None:
        """Record when the current connection reached a stage (first-playable profiling, once per stage)."""
        self.timeline.setdefault(stage, time.monotonic())

    def run_connection(self, relay: subprocess.Popen[bytes], probed: tuple[bytes, Probe] | None = None,
                       timeline: dict[str, float] | None = None) -> ConnectionResult:
        """Probe (unless the ingest already did: `timeline` holds its stages), encode and package one publisher
        connection until it ends."""
        started = time.monotonic()
        self.telemetry.connected()
        if isinstance(relay, Relay) and relay.progress is not None:
            threading.Thread(target=_follow, args=(self.telemetry, relay.progress), daemon=True).start()
        self.timeline = dict(timeline or {"relay_started": started})
        with self.lock:
            self.relay = relay
        assert relay.stdout is not None
        try:
            head, probe = probed or read_until_probed(
                relay.stdout, on_first_bytes=lambda: self.mark("relay_first_bytes"))
            self.mark("probed")
        except ProbeError:
            self.stop_encoder()
            raise
        first_connection = self.plan is None
        if self.plan is None:
            self.prepare(probe, publish_masters=False)  # published while the encoder starts
        assert self.plan is not None and self.packager is not None
        pipes = [os.pipe() for _ in self.plan.renditions]
        with tempfile.TemporaryFile() as diagnostics:
            with self.lock:
                self.process = process = self.encoder.start(self.plan, probe, [w for _, w in pipes],
                                                            diagnostics=diagnostics)  # fmt: skip
            self.mark("encoder_started")
            for _, write_end in pipes:
                os.close(write_end)
            self.fanout.start()
            pump = threading.Thread(target=_pump, args=(head, relay.stdout, process.stdin, self.fanout), daemon=True)
            pump.start()
            if first_connection:  # while the encoder starts up: it needs a part target's worth before its first part
                try:
                    self._publish_masters(probe)
                except Exception:
                    self.stop_encoder()
                    raise
            names = [r.name for r in self.plan.renditions]
            streams = {name: os.fdopen(read_end, "rb") for name, (read_end, _) in zip(names, pipes, strict=True)}
            results = self.packager.package_all(streams)
            for stream in streams.values():
                stream.close()
            process.wait()
            self.stop_encoder()
            pump.join(timeout=5)
            diagnostics.seek(0)
            stderr = diagnostics.read(1 << 20).decode(errors="replace")
        errors = [str(r) for r in results.values() if isinstance(r, BaseException)]
        fragments = sum(r for r in results.values() if isinstance(r, int))
        reason = stderr_reason(stderr) if process.returncode not in (0, -9, 255) else ""
        # the packager's error says what was missing, ffmpeg's why (an encoder that wrote no init segment at all)
        error = "; ".join([*errors, *([f"encoder exit {process.returncode}: {reason}"] if reason else [])]) or None
        self.media_seconds = self._duration()
        return ConnectionResult(fragments, time.monotonic() - started, error)

    def prepare(self, probe: Probe, *, publish_masters: bool = True) -> None:
        """Plan the ladder from the first connection's probe and publish the masters; reconnects keep both."""
        self.plan = self.encoder.plan(probe, low_latency=self.low_latency)
        self.packager = self._new_packager([r.name for r in self.plan.renditions], self.plan.packaging)
        if publish_masters:
            self._publish_masters(probe)

    def _new_packager(self, names: list[str], packaging: PackagingPlan) -> LivePackager:
        return LivePackager(names, self.sink, packaging, media_origin=self._media_origin, on_part=self._on_part,
                            recording=self.recording)

    def hand_over(self) -> None:
        """The publisher's connection ended and its reconnect may land on another ingest: the segments in progress
        are closed, the playlists stay open (no ENDLIST), and the packager's state goes to the store beside them."""
        if self.packager is None:
            return  # nothing packaged yet: the reconnect starts the session's media afresh
        state = json.dumps(self.packager.hand_over()).encode()
        self.store.put(self.prefix + HANDOVER_NAME, [state], content_type="application/json")

    def take_over(self, probe: Probe | None) -> bool:
        """Continue a session an ingest handed over, or one whose ingest died (its state read back from the playlists
        it published): a reconnect (`probe` plans its encoder, whose masters are published already), or None: only
        to `finish` it. False when the store holds neither."""
        handed = self.sink.get(HANDOVER_NAME)
        state = json.loads(handed) if handed is not None else self._published_state()
        if state is None:
            return False
        if probe is not None:
            self.plan = self.encoder.plan(probe, low_latency=self.low_latency)
        names = [r.name for r in self.plan.renditions] if self.plan is not None else list(state["renditions"])
        self.packager = self._new_packager(names, PackagingPlan(**state["plan"]))
        self.packager.resume(state)
        if handed is not None:
            self.store.delete(self.prefix + HANDOVER_NAME)  # this process holds the session now
        self.media_seconds = self._duration()
        return True

    def _published_state(self) -> dict[str, Any] | None:
        """The packager's state as a dead ingest (killed, out of memory: no hand-over) left it in its playlists; None
        when it published no segment. Its segment in progress is closed from its parts (`resume`)."""
        master = self.sink.get(LIVE_MASTER_NAMES["low"])
        if master is None:
            return None
        listing = RECORDING_PLAYLIST if self.recording else STANDARD_PLAYLIST
        playlists = {}
        for variant in m3u8.loads(master.decode()).playlists:
            name = variant.uri.split("/", 1)[0]
            edge, listed = self.sink.get(f"{name}/{LOW_LATENCY_PLAYLIST}"), self.sink.get(f"{name}/{listing}")
            if edge is not None and listed is not None:
                playlists[name] = (edge.decode(), listed.decode())
        state = state_from_playlists(playlists, segment_target=self.settings.keyframe_seconds,
                                     window_seconds=float(self.settings.live_dvr_window))  # fmt: skip
        segments = sum(len(rendition["segments"]) for rendition in state["renditions"].values())
        if not segments:
            return None
        log.warning("live session %s had no hand-over (its ingest died): taken over from its playlists, %d segments "
                    "in %d renditions", self.prefix, segments, len(state["renditions"]))
        return state

    def _media_origin(self) -> datetime | None:
        """When the connection's media time 0 reached the ingest: what its PROGRAM-DATE-TIMEs count from."""
        origin = self.fanout.media_origin
        return None if origin is None else datetime.fromtimestamp(origin, UTC)

    def _on_part(self, rendition: str, media_seconds: float, publish_seconds: float) -> None:
        metrics.observe_live_part(publish_seconds)
        assert self.plan is not None
        if "first_part" not in self.timeline:
            self.mark("first_part")
            origin = next(iter(self.timeline.values()))
            log.info("live %s: first part %s", self.asset_id,
                     ", ".join(f"{stage} +{at - origin:.2f}s" for stage, at in self.timeline.items()))
        if rendition == self.plan.renditions[0].name:  # one rendition is the encoder's clock
            self.telemetry.part_encoded(media_seconds)

    def figures(self) -> LiveFigures:
        """Ingest, encoder and latency figures of the current connection, for the supervision loop."""
        latency = None
        if self.packager is not None:
            first = next(iter(self.packager.renditions.values()))
            with first.lock:
                latency = live_edge_latency(first.playlist, low_latency=self.low_latency)
        return self.telemetry.figures(latency)

    def end_relay(self, relay: subprocess.Popen[bytes] | None = None) -> None:
        """The publisher left (or is back): end the relay gracefully, so the encoder drains what it received."""
        with self.lock:
            relay = relay or self.relay
        if relay is not None and relay.poll() is None:
            _terminate(relay)  # ffmpeg ends at its next packet, writing what it holds
            second = threading.Timer(SECOND_SIGNAL_SECONDS, _terminate, args=(relay,))
            second.daemon = True  # ffmpeg's first signal does not interrupt a read from a silent publisher; this does
            second.start()

    def end_input(self) -> None:
        """End the current connection at its input (complete, disable, delete, limit): the relay stops, the encoder
        drains what it received and flushes its last fragment, which the packager keeps (the segment in progress
        is closed short by `finish`); an encoder that has not ended within ENCODER_DRAIN_SECONDS is killed."""
        with self.lock:
            relay, process = self.relay, self.process
            first_call = process is not None and process is not self.ending
            self.ending = process
        self.end_relay(relay)
        if first_call and process is not None and process.poll() is None:
            timer = threading.Timer(ENCODER_DRAIN_SECONDS, _kill_running, args=(relay, process))
            timer.daemon = True
            timer.start()

    def stop_encoder(self) -> None:
        """End the current connection now (disable, complete, delete, duration limit)."""
        with self.lock:
            running = [p for p in (self.relay, self.process) if p is not None and p.poll() is None]
        for process in running:
            kill_group(process)

    def finish(self) -> float:
        """Close every playlist with ENDLIST: the recording is VOD, from the very same segments (an unrecorded
        session's objects go)."""
        if self.packager is not None:
            self.packager.finish()
        self.media_seconds = self._duration()
        if not self.recording:
            delete_prefix(self.store, self.prefix)
        return self.media_seconds

    def static_mp4(self, mp4_support: str) -> dict[str, Any] | None:
        """The finished recording's static MP4 (`mp4_support`), remuxed from its segments like a VOD asset's:
        published below the asset and described as a Mux static rendition; None when none is wanted."""
        name = static_mp4_name(mp4_support)
        if name is None or self.asset_id is None or self.plan is None or self.packager is None:
            return None
        chosen = pick_static_rendition(self.plan.renditions, mp4_support)
        if chosen is None:
            return None
        connections: dict[str, list[str]] = {}
        for segment in self.packager.renditions[chosen.name].playlist.segments:
            if segment.complete:
                connections.setdefault(segment.init_uri, []).append(str(segment.uri))
        if not connections:
            return None
        with tempfile.TemporaryDirectory(prefix="streamstack-live-mp4-") as workdir:
            work = Path(workdir)
            files = [self._join(chosen.name, init, uris, work / f"connection{i}.mp4")
                     for i, (init, uris) in enumerate(connections.items())]  # fmt: skip
            listing = work / "connections.txt"
            listing.write_text(concat_listing(files))
            run = run_ffmpeg(build_recording_mp4_command(files, listing, name), cwd=work,
                             timeout_seconds=STATIC_MP4_TIMEOUT_SECONDS)  # fmt: skip
            if run.returncode != 0:
                raise MediaError("encode_failed", f"The static MP4 could not be written ({stderr_reason(run.stderr)}).")
            size = (work / name).stat().st_size
            self.store.put_file(asset_object_key(self.asset_id, name), work / name, content_type="video/mp4")
        return {"name": name, "ext": "mp4", "width": chosen.width, "height": chosen.height, "filesize": size}

    def _join(self, rendition: str, init: str, segments: list[str], target: Path) -> Path:
        """One connection's init segment and segments, read back from the store, as one fragmented MP4."""
        with target.open("wb") as handle:
            for name in (init, *segments):
                for chunk in self.store.get(f"{self.prefix}{rendition}/{name}"):
                    handle.write(chunk)
        return target

    def _duration(self) -> float:
        if self.packager is None:
            return 0.0
        first = next(iter(self.packager.renditions.values()))
        return round(sum(s.duration for s in first.playlist.segments), 3)

    def _publish_masters(self, probe: Probe) -> None:
        """Masters over the same renditions: LL, standard live, and the recording (the asset's) if there is one."""
        assert self.plan is not None
        audio = self.plan.audio if probe.audio_stream is not None else None
        audio_codecs = f",{audio.codecs}" if audio else ""
        audio_bits = audio.bitrate if audio else 0
        masters = [(LIVE_MASTER_NAMES["low"], LOW_LATENCY_PLAYLIST), (LIVE_MASTER_NAMES["standard"], STANDARD_PLAYLIST)]
        for name, media in masters + ([(MASTER_NAME, RECORDING_PLAYLIST)] if self.recording else []):
            variants = [Variant(f"{r.name}/{media}", r.maxrate + audio_bits, r.bitrate + audio_bits,
                                r.codecs + audio_codecs, r.width, r.height, float(r.frame_rate))
                        for r in self.plan.renditions]  # fmt: skip
            # audio is muxed into every rendition; no START in a master (ffmpeg 9 refuses it there, and live
            # players start at the live edge; the recording's media playlists carry their own START)
            body = master_playlist(variants, None).replace(START_TAG + "\n", "")
            self.sink.put(name, body.encode(), PLAYLIST_TYPE)
        self._record_renditions()

    def _record_renditions(self) -> None:
        assert self.plan is not None
        if self.asset_id is None:
            return
        with self.sessions() as session:
            asset = session.get(Asset, self.asset_id)
            if asset is None or asset.renditions:
                return
            top = self.plan.renditions[0]
            asset.max_width, asset.max_height, asset.max_frame_rate = top.width, top.height, float(top.frame_rate)
            asset.has_audio = self.plan.audio is not None
            for r in self.plan.renditions:
                asset.renditions.append(Rendition(
                    name=r.name, width=r.width, height=r.height, frame_rate=float(r.frame_rate), bitrate=r.maxrate,
                    average_bitrate=r.bitrate, codecs=r.codecs,
                    playlist_key=asset_object_key(self.asset_id, f"{r.name}/{RECORDING_PLAYLIST}")))  # fmt: skip
            session.commit()


def _terminate(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()


def _kill_running(*processes: subprocess.Popen[bytes] | None) -> None:
    """Kill what is still running of a connection that was asked to end (a stuck encoder, a relay that hangs)."""
    for process in processes:
        if process is not None and process.poll() is None:
            kill_group(process)


def kill_group(process: subprocess.Popen[bytes]) -> None:
    """Kill an ffmpeg started in its own session, and reap it."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
    process.wait()


def _follow(telemetry: StreamTelemetry, progress: IO[bytes]) -> None:
    with progress:
        telemetry.follow_relay(progress)


def _pump(head: bytes, source: IO[bytes], sink: IO[bytes] | None, fanout: FlvFanout) -> None:
    """The relay's bytes into the encoder and the restreams: what was probed first, then all until the relay ends."""
    try:
        if sink is None:
            return
        with contextlib.suppress(BrokenPipeError, OSError, ValueError):
            chunk = head
            while chunk:
                fanout.feed(chunk)
                sink.write(chunk)
                sink.flush()
                chunk = os.read(source.fileno(), 65536)
        with contextlib.suppress(BrokenPipeError, OSError):
            sink.close()
    finally:
        fanout.close()
