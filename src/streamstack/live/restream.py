"""Simulcast at the ingest: one ffmpeg per target copies the incoming stream (no re-encode) to it.

Each restream reads the session's relay output from a pipe (live/fanout.py: the FLV the encoder gets,
whether the publisher came in over RTMP or SRT) and writes it with `-c copy` to the target's RTMP(S)
URL. A target that fails is `errored` with a reason and retried with backoff in its own thread; it
never touches the live session or the other targets. Targets follow the publisher: they start when it
connects (or when added while it is live), go `idle` when it leaves, and stop when deleted.
"""

from __future__ import annotations

import contextlib
import ipaddress
import logging
import os
import re
import signal
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import certifi
from sqlalchemy import or_, select
from sqlalchemy.orm import Session, sessionmaker

from streamstack.live import simulcast
from streamstack.live.fanout import FlvFanout
from streamstack.live.models import SimulcastTarget
from streamstack.media.safety import ffmpeg_exe, stderr_reason
from streamstack.observability import metrics
from streamstack.outbound import SIMULCAST, UrlRefused, check_address, resolve
from streamstack.settings import Settings

log = logging.getLogger("streamstack.live.simulcast")
RETRY_SECONDS = (1.0, 2.0, 4.0, 8.0, 15.0, 30.0)  # after the n-th failure in a row; the last one repeats
SOURCE_RETRY_SECONDS = 0.5  # the publisher's stream is not (or no longer) relayed: not the target's fault
IO_TIMEOUT_MICROSECONDS = 10_000_000
STDERR_LIMIT = 1 << 16
ERROR_LINE = re.compile(r"^(?:\[[^\]]*\] )*\[(?:error|fatal)\] ")
LOG_PREFIX = re.compile(r"^(?:\[[^\]]*\] ?)+")
GENERIC_ERRORS = ("Error opening output file", "Error opening output files")  # the cause is on the lines before


@dataclass(frozen=True)
class Destination:
    """How ffmpeg reaches a target: the URL it dials and the RTMP fields it sends (None: derived by ffmpeg)."""

    url: str
    app: str | None = None
    tc_url: str | None = None
    playpath: str | None = None
    ca_file: str | None = None  # rtmps: the CA bundle the destination's certificate is verified against


def restream_command(destination: Destination) -> list[str]:
    """ffmpeg arguments (without the executable): the relay's FLV on stdin, its video and audio tracks copied
    (no decode, no encode), to the target; data tracks (captions as AMF) are left out, FLV cannot carry them all."""
    rtmp = [*(["-rtmp_app", destination.app] if destination.app is not None else []),
            *(["-rtmp_tcurl", destination.tc_url] if destination.tc_url else []),
            *(["-rtmp_playpath", destination.playpath] if destination.playpath else []),
            *(["-ca_file", str(destination.ca_file)] if destination.ca_file else [])]  # fmt: skip
    return ["-hide_banner", "-nostdin", "-nostats", "-loglevel", "level+info", "-progress", "pipe:1",
            "-protocol_whitelist", "pipe", "-format_whitelist", "flv,live_flv", "-f", "flv", "-i", "pipe:0",
            "-map", "0:v", "-map", "0:a?", "-c", "copy", "-f", "flv", "-flvflags", "no_duration_filesize",
            "-protocol_whitelist", "rtmp,rtmps,tcp,tls", "-rw_timeout", str(IO_TIMEOUT_MICROSECONDS), *rtmp,
            destination.url]  # fmt: skip


def destination(target: SimulcastTarget, settings: Settings) -> Destination:
    """Check the target again (SSRF) and say how to dial it.

    With a stream key, the server URL's whole path is the RTMP app and the key the play path, as OBS
    sends them. rtmp:// dials the address just checked (tcUrl keeps the name), so DNS that changes
    between check and connect reaches nothing; rtmps:// keeps the name for TLS (SNI, certificate).
    """
    simulcast.check_target_url(target.url, settings, must_resolve=True)
    parts = urlsplit(target.url)
    app = parts.path.strip("/") + (f"?{parts.query}" if parts.query else "")
    key = target.stream_key
    if parts.scheme != "rtmp" or parts.hostname is None:
        ca_file = str(settings.simulcast_ca_file or certifi.where())
        return Destination(f"{target.url.rstrip('/')}/{key}" if key else target.url, app if key else None, None, key,
                           ca_file)
    port = SIMULCAST.port(parts.scheme, parts.port)
    try:
        address = resolve(parts.hostname, port)[0].split("%", 1)[0]
    except OSError as exc:  # DNS changed since the check a moment ago
        raise UrlRefused(f"{SIMULCAST.noun} host {parts.hostname!r} does not resolve") from exc
    check_address(address, settings, purpose=SIMULCAST, allow_private=settings.simulcast_allow_private)
    host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
    named = f"rtmp://{parts.netloc}"  # no credentials: check_target_url refuses them
    if key:
        return Destination(f"rtmp://{host}:{port}/{app}/{key}", app, f"{named}/{app}", key)
    first = parts.path.strip("/").split("/", 1)[0]  # ffmpeg's own split of a URL with the key inside
    return Destination(urlunsplit(parts._replace(netloc=f"{host}:{port}")), None, f"{named}/{first}")


@dataclass
class Attempt:
    """What one ffmpeg run showed: whether it read the source and wrote to the target, and why it ended."""

    returncode: int
    source_opened: bool
    broadcast: bool
    reason: str


@dataclass
class Restreamer:
    """One target's restream thread: attempts, backoff, and the states it reports."""

    target_id: str
    source: FlvFanout
    sessions: sessionmaker[Session]
    settings: Settings
    stopping: threading.Event = field(default_factory=threading.Event)
    process: subprocess.Popen[bytes] | None = None
    thread: threading.Thread | None = None
    lock: threading.Lock = field(default_factory=threading.Lock)
    broadcasting: bool = False  # media is reaching the target now

    def start(self) -> None:
        self.thread = threading.Thread(target=self._run, name=f"simulcast-{self.target_id}", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop now: kill the ffmpeg (its own process group) and wait for the thread."""
        self.stopping.set()
        with self.lock:
            process = self.process
        if process is not None and process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
        if self.thread is not None and self.thread is not threading.current_thread():
            self.thread.join(timeout=10)

    def _run(self) -> None:
        failures = 0
        if not self._report("starting"):
            return
        while not self.stopping.is_set():
            try:
                target = self._target()
                if target is None:
                    return
                attempt = self._attempt(target)
            except Exception as exc:  # noqa: BLE001 - a catalog blip or a failed spawn: back off, never a dead thread
                log.warning("simulcast target %s: attempt failed; retrying", self.target_id, exc_info=True)
                attempt = Attempt(1, True, False, f"the restream could not start: {type(exc).__name__}")
            if self.stopping.is_set():
                return
            if attempt.broadcast:
                failures = 0
            if attempt.returncode == 0 or not attempt.source_opened:
                delay = SOURCE_RETRY_SECONDS  # the publisher's stream ended or is not there yet
            else:
                metrics.count_live_simulcast_failure()
                if not self._report("errored", attempt.reason):
                    return
                log.warning("simulcast target %s failed: %s", self.target_id, attempt.reason)
                delay = RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)]
                failures += 1
            self.stopping.wait(delay)

    def _target(self) -> SimulcastTarget | None:
        """The target as it is now (None once deleted), detached from its catalog session."""
        with self.sessions() as db_session:
            target = db_session.get(SimulcastTarget, self.target_id)
            if target is not None:
                db_session.expunge(target)
            return target

    def _attempt(self, target: SimulcastTarget) -> Attempt:
        """One ffmpeg run, until the source ends, the target fails or we stop it."""
        with tempfile.TemporaryFile() as diagnostics:
            try:
                dial = destination(target, self.settings)
            except UrlRefused as exc:
                return Attempt(1, True, False, str(exc))
            with self.lock:
                if self.stopping.is_set():
                    return Attempt(0, True, False, "")
                feed = self.source.subscribe()
                try:
                    self.process = process = subprocess.Popen(
                        [ffmpeg_exe(), *restream_command(dial)],
                        stdin=feed, stdout=subprocess.PIPE, stderr=diagnostics, start_new_session=True,
                    )  # fmt: skip
                finally:
                    os.close(feed)
            try:
                broadcast = self._watch_progress(process)
            finally:
                self.broadcasting = False
            process.wait()
            diagnostics.seek(0)
            stderr = diagnostics.read(STDERR_LIMIT).decode(errors="replace")
        errors = "\n".join(line for line in (LOG_PREFIX.sub("", raw) for raw in stderr.splitlines()
                                              if ERROR_LINE.search(raw)) if not line.startswith(GENERIC_ERRORS))
        reason = simulcast.redact(stderr_reason(errors) or f"ffmpeg exited with {process.returncode}", target)
        return Attempt(process.returncode, "Input #0" in stderr, broadcast, reason)

    def _watch_progress(self, process: subprocess.Popen[bytes]) -> bool:
        """Report `broadcasting` once ffmpeg has written media to the target; True if it did."""
        assert process.stdout is not None
        broadcast = False
        for line in process.stdout:
            if not broadcast and line.startswith(b"out_time_us=") and line[12:].strip().isdigit() \
                    and int(line[12:]) > 0:  # fmt: skip
                broadcast = self.broadcasting = True
                if not self._report("broadcasting"):
                    self.stopping.set()
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(process.pid, signal.SIGKILL)
        return broadcast

    def _report(self, status: str, error: str | None = None) -> bool:
        """The target's new state, with its event; False when the target is gone (then the restream ends)."""
        if self.stopping.is_set() and status != "idle":
            return True
        try:
            with self.sessions() as db_session:
                return simulcast.set_status(db_session, self.target_id, status, error)
        except Exception:  # noqa: BLE001 - a catalog blip must not end the restream
            log.warning("simulcast target %s: could not record %s", self.target_id, status, exc_info=True)
            return True


@dataclass
class SimulcastRunner:
    """The restreams of this ingest process, reconciled with the catalog at every supervision tick."""

    sessions: sessionmaker[Session]
    settings: Settings
    restreamers: dict[str, Restreamer] = field(default_factory=dict)

    def reconcile(self, live_sources: Mapping[str, FlvFanout]) -> None:
        """Run a restream for every target of a stream with a publisher (live stream id -> its session's
        fan-out), stop the others; targets without a publisher are `idle`."""
        with self.sessions() as db_session:
            rows = db_session.execute(
                select(SimulcastTarget.id, SimulcastTarget.live_stream_id, SimulcastTarget.status)
                .where(or_(SimulcastTarget.live_stream_id.in_(list(live_sources)), SimulcastTarget.status != "idle"))
            ).all()
        wanted = {row.id: live_sources[row.live_stream_id] for row in rows if row.live_stream_id in live_sources}
        for target_id in [t for t, r in self.restreamers.items() if wanted.get(t) is not r.source]:
            self.restreamers.pop(target_id).stop()  # gone, or its stream's session is another one now
        for target_id, source in wanted.items():
            if target_id not in self.restreamers:
                restreamer = Restreamer(target_id, source, self.sessions, self.settings)
                self.restreamers[target_id] = restreamer
                restreamer.start()
        metrics.set_live_simulcast_broadcasting(sum(r.broadcasting for r in self.restreamers.values()))
        for row in rows:
            if row.id not in wanted and row.status != "idle":
                with self.sessions() as db_session:
                    simulcast.set_status(db_session, row.id, "idle")

    def stop_all(self) -> None:
        """The ingest stops: every restream ends and its target is `idle` (no publisher reaches it any more)."""
        for restreamer in self.restreamers.values():
            restreamer.stopping.set()
        while self.restreamers:
            target_id, restreamer = self.restreamers.popitem()
            restreamer.stop()
            with contextlib.suppress(Exception), self.sessions() as db_session:
                simulcast.set_status(db_session, target_id, "idle")
