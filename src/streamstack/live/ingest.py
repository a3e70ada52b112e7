"""Live ingest: nginx's RTMP module and the SRT front receive publishers, we admit them, sessions encode and package.

nginx (Debian's `libnginx-mod-rtmp`) runs with a configuration generated under the data directory.
Its `on_publish` callback checks the stream key; on success it answers with a redirect that
renames the stream to the live stream's id, so the key never appears in a process list or a log,
and the session's encoder pulls that name from nginx on loopback (plays from anywhere else are
denied). nginx-rtmp keeps no GOP cache: a player joins at the next keyframe, up to a publisher
GOP late. So the relay attaches to the (still idle) stream before the publish is admitted
(`idle_streams on`; its `on_play` says it is there) and receives the publisher's very first
frames; idle streams never end their players, so `on_publish_done` ends the relay. The publish is
authorized (status, events, recording) only once the relay's output shows video, as for SRT.
`on_publish_done` also starts the reconnect window; a supervision loop ends sessions past it.
SRT callers are admitted by the front (live/srt.py) into an ffmpeg listener of their own, which is
their relay; from there both protocols run the same session code.

Where several ingest processes share the catalog and the store behind one load balancer (`hand_over`, the
aws shape), a publisher's reconnect may land on any of them: when a publisher leaves, its session is handed
over (the connection ends as at any drop, the packager's state goes to the store, and only then does the
catalog say the publisher left), and the process its reconnect reaches takes the session over: the same
stream and recording asset, a discontinuity, the same media sequence. One that never comes back is closed
as a recording by whichever process's supervision sees its reconnect window pass. A process killed outright
hands nothing over: its publishers' leases (a heartbeat in the catalog) go stale, the first other process to
see that says they left (as of the last heartbeat), their reconnects are let in elsewhere, and the session is
taken over (or closed) from the playlists it published.

On SIGTERM (an ECS deployment or scale-in, after the NLB stopped sending it new connections) the process
drains: it admits no new session and lets its sessions end on their own until the drain deadline; then
it hands what is still live over (the publisher is dropped and reconnects to another task), or, as the only
ingest (`up`), closes it as a recording (ENDLIST), so a stop never leaves a live stream half-open.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs

from sqlalchemy.orm import Session

from streamstack.assets import service as assets
from streamstack.db.base import utcnow
from streamstack.live import service
from streamstack.live.models import LiveStream
from streamstack.live.restream import SimulcastRunner
from streamstack.live.rtmp_stat import no_video_reason, stat_http_block, stat_socket
from streamstack.live.session import (
    ENCODER_DRAIN_SECONDS,
    LiveSession,
    Relay,
    kill_group,
    read_until_probed,
    start_relay,
)
from streamstack.live.srt import REJECT_CONFLICT, REJECT_FORBIDDEN, SrtBackend, SrtFront, SrtRefused, free_udp_port
from streamstack.media.errors import MediaError, ProbeError
from streamstack.media.live import srt_listener_url
from streamstack.media.probe import Probe
from streamstack.observability import metrics
from streamstack.platform import Platform

log = logging.getLogger("streamstack.live")
RTMP_MODULE = Path("/usr/lib/nginx/modules/ngx_rtmp_module.so")
SUPERVISE_SECONDS = 0.5
RELAY_ATTACH_SECONDS = 3.0  # the publish waits this long at most for the relay to be in place
UPDATE_SECONDS = 2  # nginx asks this often whether a publisher may stay (a session ended: no, it is dropped)
RELAY_DRAIN_SECONDS = 0.5  # after the publisher left, what nginx already sent reaches the relay
MAX_CALLBACK_BYTES = 16 * 1024
REJECT_OVERLOAD = 1503  # SRT_REJX_OVERLOAD: a draining or full ingest; the caller retries elsewhere
SRT_LISTEN_SECONDS = 10.0  # an admitted caller's listener waits this long for the caller's conclusion


def _killed(relay: Relay) -> bool:
    """The relay was killed by a signal (a refusal counted elsewhere, or the ingest stopping), not ended by its
    input: its output ended, so it is exiting."""
    try:
        return relay.wait(timeout=0.5) < 0
    except subprocess.TimeoutExpired:
        return False


def _mark(timeline: dict[str, float], stage: str) -> None:
    timeline.setdefault(stage, time.monotonic())


def find_nginx() -> str | None:
    """nginx with the RTMP module, or None (then RTMP ingest is off and `up` says so)."""
    binary = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    return binary if binary and RTMP_MODULE.exists() else None


def nginx_config(*, run_dir: Path, rtmp_host: str, rtmp_port: int, callback_url: str) -> str:
    """The whole nginx.conf: one RTMP application, publish authenticated by our callback, play loopback-only;
    its stat page on a unix socket under run_dir (what a publisher's tracks are, live/rtmp_stat.py)."""
    socket = stat_socket(run_dir)
    stat = stat_http_block(socket, run_dir) if socket is not None else ""
    return f"""daemon off;
master_process off;
worker_processes 1;
pid {run_dir}/nginx.pid;
error_log {run_dir}/nginx-error.log warn;
load_module {RTMP_MODULE};
events {{ worker_connections 1024; }}
rtmp {{
    server {{
        listen {rtmp_host}:{rtmp_port};
        access_log off;
        chunk_size 4096;
        ping 10s;
        ping_timeout 10s;
        application {service.RTMP_APPLICATION} {{
            live on;
            record off;
            wait_key on;
            wait_video on;
            drop_idle_publisher 10s;
            idle_streams on;
            allow play 127.0.0.1;
            deny play all;
            notify_method post;
            notify_relay_redirect off;
            on_publish {callback_url}/rtmp/on_publish;
            on_publish_done {callback_url}/rtmp/on_publish_done;
            on_play {callback_url}/rtmp/on_play;
            on_update {callback_url}/rtmp/on_update;
            notify_update_timeout {UPDATE_SECONDS}s;
        }}
    }}
}}
{stat}"""


@dataclass
class RunningSession:
    live_stream_id: str
    session: LiveSession
    stream_key: str = ""
    thread: threading.Thread | None = None
    connected: bool = False
    mp4_support: str = "none"  # the recording's static MP4, made once the session ends
    leaving: bool = False  # being handed over: the hand-over reports the publisher's departure, once done


@dataclass
class Admitting:
    """A publisher whose key was accepted and whose relay's output is being probed for video."""

    stream_key: str
    relay: Relay | None = None


@dataclass
class LiveIngest:
    """The sessions of this ingest process, keyed by live stream id."""

    platform: Platform
    rtmp_port: int
    sessions: dict[str, RunningSession] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)
    stopping: threading.Event = field(default_factory=threading.Event)
    draining: threading.Event = field(default_factory=threading.Event)
    max_sessions: int = 0  # 0: no limit; an ingest task on ECS is sized for one session
    simulcast: SimulcastRunner = field(init=False)
    reported: set[str] = field(default_factory=set)  # streams whose per-stream series exist
    attaching: dict[str, threading.Event] = field(default_factory=dict)  # publishes waiting for their relay
    admitting: dict[str, Admitting] = field(default_factory=dict)  # live stream id -> publisher being probed
    clock: Callable[[], datetime] = utcnow  # sessions' limits and reconnect windows are read against it
    hand_over: bool = False  # one of several ingests: a departed publisher's session waits in the store, not here
    rtmp_stat: Path | None = None  # nginx's stat socket: an RTMP publisher without video is refused at once
    lease_kept_at: float = 0.0  # monotonic time of this ingest's last heartbeat for its publishers (hand_over)
    catalog_since: datetime | None = None  # since when its supervision has reached the catalog without a failure

    def __post_init__(self) -> None:
        self.simulcast = SimulcastRunner(self.platform.sessions, self.platform.settings)

    def loopback_url(self, live_stream_id: str) -> str:
        """Where the relay plays an admitted stream from nginx."""
        return f"rtmp://127.0.0.1:{self.rtmp_port}/{service.RTMP_APPLICATION}/{live_stream_id}"

    # --- nginx callbacks (form-encoded POSTs) ------------------------------------------------------
    def on_publish(self, form: bytes) -> tuple[int, dict[str, str]]:
        """302 lets the publisher in (renamed to its stream's id), 403 refuses it (nginx drops the connection).

        The key is only checked here: the relay starts and attaches, and the publish is authorized once its
        output shows video (`_publish_when_video`); one without video is dropped by `on_update`."""
        fields = parse_qs(form.decode("latin-1"))
        key = (fields.get("name") or [""])[0]
        refusal = self._admission_refusal(key)
        if refusal:
            log.info("live publish refused by this ingest: %s", refusal)
            return 403, {}
        try:
            check = self._check(key)
        except service.PublishRefused as exc:
            log.warning("live publish refused from %s: %s", (fields.get("addr") or ["?"])[0], exc)
            metrics.count_live_refusal("rtmp", "busy" if exc.busy else "key")
            return 403, {}
        live_stream_id = check.live_stream_id
        with self.lock:
            attached = self.attaching[live_stream_id] = threading.Event()
        try:
            self._drain_previous(live_stream_id)
            relay = start_relay(self.loopback_url(live_stream_id), "rtmp", max_seconds=check.seconds_left)
            self._publish_when_video(relay, key, live_stream_id, "rtmp")
            if attached.wait(RELAY_ATTACH_SECONDS):
                time.sleep(0.02)  # nginx handles the relay's on_play answer (and joins it) before this one
            else:
                log.warning("live relay for %s not attached in time: it joins at a keyframe", live_stream_id)
        except BaseException:
            self._release(live_stream_id)
            raise
        finally:
            with self.lock:
                self.attaching.pop(live_stream_id, None)
        return 302, {"Location": live_stream_id}

    def may_play(self, form: bytes) -> bool:
        """Only the relay of a publish being admitted plays (restreams read the relay, not nginx)."""
        name = (parse_qs(form.decode("latin-1")).get("name") or [""])[0]
        with self.lock:
            return name in self.attaching

    def relay_attached(self, form: bytes) -> None:
        """The relay's play was answered: nginx joins it to the stream, so the publisher may start."""
        name = (parse_qs(form.decode("latin-1")).get("name") or [""])[0]
        with self.lock:
            attached = self.attaching.get(name)
        if attached is not None:
            attached.set()

    def on_update(self, form: bytes) -> bool:
        """May this publisher stay? Not once its session ended (limit reached, completed, disabled, deleted)."""
        fields = parse_qs(form.decode("latin-1"))
        if (fields.get("call") or [""])[0] != "update_publish":
            return True  # our own player (the relay): it ends with the session
        name = (fields.get("name") or [""])[0]
        if self._admitting(name) is not None:
            return True  # its video is being probed
        running = self._running(name)
        return running is not None and running.connected

    def _running(self, name: str) -> RunningSession | None:
        """The session of a stream nginx names by its live stream id, or by its key (callbacks after a redirect)."""
        with self.lock:
            return self.sessions.get(name) or next((r for r in self.sessions.values() if r.stream_key == name), None)

    def _admitting(self, name: str) -> Admitting | None:
        """A publisher whose video is being probed, named by its live stream id or its key."""
        with self.lock:
            return self.admitting.get(name) or next((a for a in self.admitting.values() if a.stream_key == name), None)

    def _admission_refusal(self, stream_key: str) -> str | None:
        """Why this process cannot take a publisher now; a reconnect of one of its own sessions is always taken."""
        with self.lock:
            own = any(r.stream_key == stream_key for r in self.sessions.values())
            busy = len(self.sessions)
        if own:
            return None
        if self.draining.is_set():
            return "draining (SIGTERM): the publisher reconnects to another ingest task"
        if self.max_sessions and busy >= self.max_sessions:
            return f"full ({busy} of {self.max_sessions} sessions): the publisher reconnects to another ingest task"
        return None

    def on_publish_done(self, form: bytes) -> int:
        name = (parse_qs(form.decode("latin-1")).get("name") or [""])[0]
        running = self._running(name)
        if running is not None and running.connected and not running.leaving:
            self._publisher_left(running)
            threading.Timer(RELAY_DRAIN_SECONDS, running.session.end_relay, args=(running.session.relay,)).start()
        elif (admitting := self._admitting(name)) is not None and admitting.relay is not None:
            admitting.relay.terminate()  # gone before its video showed: the probe ends with what it has
        return 200

    # --- SRT admission (the front has read the key from the caller's Stream ID) -----------------------
    def admit_srt(self, stream_key: str) -> SrtBackend:
        """A refused key never gets a listener; an accepted one gets its own, with the stream's passphrase."""
        refusal = self._admission_refusal(stream_key)
        if refusal:
            raise SrtRefused(refusal, REJECT_OVERLOAD)
        try:
            check = self._check(stream_key)
        except service.PublishRefused as exc:
            raise SrtRefused(str(exc), REJECT_CONFLICT if exc.busy else REJECT_FORBIDDEN) from exc
        try:
            if check.srt_passphrase is None:
                raise SrtRefused(f"live stream {check.live_stream_id} has no SRT passphrase")
            port = free_udp_port()
            url = srt_listener_url(port, check.srt_passphrase, wait_seconds=SRT_LISTEN_SECONDS)
            relay = start_relay(url, "srt", max_seconds=check.seconds_left)
            self._publish_when_video(relay, stream_key, check.live_stream_id, "srt")
        except BaseException:
            self._release(check.live_stream_id)
            raise
        return SrtBackend(port, relay)

    # --- admission, the same for both protocols: key checked, relay started, authorized once video shows ------
    def _check(self, stream_key: str) -> service.PublishCheck:
        """The key would be authorized now (nothing changes in the catalog); its stream is held for this publisher
        until its video is probed, so a second one is refused as busy meanwhile."""
        with self.platform.sessions() as db_session:
            check = service.check_publish(db_session=db_session, stream_key=stream_key, now=self.clock())
        with self.lock:
            if check.live_stream_id in self.admitting:
                raise service.PublishRefused(f"live stream {check.live_stream_id} already has a publisher", busy=True)
            self.admitting[check.live_stream_id] = Admitting(stream_key)
        return check

    def _release(self, live_stream_id: str) -> None:
        with self.lock:
            self.admitting.pop(live_stream_id, None)

    def _publish_when_video(self, relay: Relay, stream_key: str, live_stream_id: str, protocol: str) -> None:
        """Probe the relay's output off the caller's thread (the publisher's first frames flow meanwhile)."""
        with self.lock:
            self.admitting[live_stream_id].relay = relay
        threading.Thread(target=self._probe_then_authorize, args=(relay, stream_key, live_stream_id, protocol),
                         name=f"{protocol}-probe", daemon=True).start()  # fmt: skip

    def _probe_then_authorize(self, relay: Relay, stream_key: str, live_stream_id: str, protocol: str) -> None:
        """Authorize only a publisher that sends video (over SRT: that passed the passphrase): the others leave no
        event, no asset and no status change behind."""
        assert relay.stdout is not None
        timeline = {"relay_started": time.monotonic()}
        try:
            probed = read_until_probed(relay.stdout, on_first_bytes=lambda: _mark(timeline, "relay_first_bytes"),
                                       no_video=self._no_video_check(protocol, {live_stream_id, stream_key}))
            _mark(timeline, "probed")
            with self.platform.sessions() as db_session:
                grant = service.authorize_publish(db_session=db_session, stream_key=stream_key,
                                                  settings=self.platform.settings, now=self.clock(),
                                                  lease=self.hand_over)  # fmt: skip
            _mark(timeline, "authorized")
        except (ProbeError, service.PublishRefused) as exc:
            if isinstance(exc, ProbeError) and _killed(relay):  # the SRT front refused it (passphrase), or a stop
                log.info("%s publisher dropped before its video was probed", protocol.upper())
            else:
                log.warning("%s publish refused: %s", protocol.upper(), exc)
                refusal = "no_video" if isinstance(exc, ProbeError) else "busy" if exc.busy else "key"
                metrics.count_live_refusal(protocol, refusal)
                if isinstance(exc, ProbeError):
                    self._record_refusal(live_stream_id, exc.code, exc.message)
            kill_group(relay)
            for stream in (relay.stdout, relay.progress):  # no session will read them
                if stream is not None:
                    stream.close()
            self._release(live_stream_id)  # nginx's next on_update drops an RTMP publisher; SRT's front its caller
            return
        try:
            self._start(grant, stream_key, relay, probed, timeline)
        finally:
            self._release(live_stream_id)  # after the session is in place: on_update never sees neither

    def _record_refusal(self, live_stream_id: str, reason: str, message: str) -> None:
        """The stream's last_refusal and its publish_refused event say why; a catalog error only goes to the log."""
        try:
            with self.platform.sessions() as db_session:
                service.refuse_publish(db_session=db_session, live_stream_id=live_stream_id, reason=reason,
                                       message=message, settings=self.platform.settings, now=self.clock())
        except Exception:  # noqa: BLE001 - the publisher is refused either way
            log.exception("could not record the refusal of live stream %s", live_stream_id)

    def _no_video_check(self, protocol: str, names: set[str]) -> Callable[[], str | None]:
        """What tells the probe early that a publisher has no video: nginx's stat for RTMP (its relay, held by
        `wait_video`, gets nothing); an SRT relay sees the MPEG-TS program itself and ends at once."""
        socket = self.rtmp_stat
        if protocol != "rtmp" or socket is None:
            return lambda: None
        return lambda: no_video_reason(socket, names)

    # --- sessions ----------------------------------------------------------------------------------
    def _drain_previous(self, live_stream_id: str) -> None:
        """A quick reconnect: the last connection's relay ends and its encoder drains before the next one runs."""
        with self.lock:
            running = self.sessions.get(live_stream_id)
        if running is not None and running.thread is not None and running.thread.is_alive():
            running.session.end_relay()
            running.thread.join(timeout=10)

    def _start(self, grant: service.PublishGrant, stream_key: str, relay: subprocess.Popen[bytes],
               probed: tuple[bytes, Probe], timeline: dict[str, float]) -> None:
        self._drain_previous(grant.live_stream_id)
        with self.lock:
            running = self.sessions.get(grant.live_stream_id)
            if running is None or not grant.continues_session or running.session.prefix != grant.prefix:
                session = LiveSession(asset_id=grant.asset_id, prefix=grant.prefix, store=self.platform.store,
                                      settings=self.platform.settings, low_latency=grant.latency_mode == "low",
                                      sessions=self.platform.sessions)  # fmt: skip
                if self.hand_over and grant.continues_session and not session.take_over(probed[1]):
                    log.warning("live stream %s continues a session the store holds nothing of (no hand-over, no "
                                "playlists): its playlists start afresh", grant.live_stream_id)
                running = self.sessions[grant.live_stream_id] = RunningSession(grant.live_stream_id, session,
                                                                               mp4_support=grant.mp4_support)
            running.connected = True
            running.stream_key = stream_key  # nginx names the stream by its key again in on_publish_done
            running.thread = threading.Thread(target=self._connection, args=(running, relay, probed, timeline),
                                              name=f"live-{grant.live_stream_id}", daemon=True)  # fmt: skip
            running.thread.start()

    def _connection(self, running: RunningSession, relay: subprocess.Popen[bytes], probed: tuple[bytes, Probe],
                    timeline: dict[str, float]) -> None:
        try:
            result = running.session.run_connection(relay, probed, timeline)
            if result.error:
                log.warning("live encoder for %s ended: %s", running.live_stream_id, result.error)
        except (ProbeError, subprocess.TimeoutExpired, OSError) as exc:
            log.warning("live stream %s could not be encoded: %s", running.live_stream_id, exc)
        finally:  # a relay that reached the session's limit (-t) ends here too: the supervision ends the session
            if running.connected and not running.leaving:
                self._publisher_left(running)

    def _publisher_left(self, running: RunningSession) -> None:
        """One of several ingests hands the session over (its reconnect may land elsewhere); else the reconnect
        window starts here, with the session kept in memory."""
        if not (self.hand_over and self._start_hand_over(running)) and not running.leaving:
            self._disconnected(running)

    def _start_hand_over(self, running: RunningSession) -> bool:
        """Hand a session of this process over on a thread of its own; False if it is being ended or handed over."""
        with self.lock:
            if running.leaving or self.sessions.get(running.live_stream_id) is not running:
                return False
            running.leaving = True
        threading.Thread(target=self._hand_over, args=(running,), name=f"live-handover-{running.live_stream_id}",
                         daemon=True).start()  # fmt: skip
        return True

    def _hand_over(self, running: RunningSession) -> None:
        """Leave the session to its publisher's reconnect, wherever it lands: the connection ends as at a drop,
        the packager's state goes to the store, and only then does the catalog say the publisher left (until
        then its reconnect is refused as busy), so the process it reconnects to takes the session over."""
        try:
            self._end_connection(running)
            running.session.hand_over()
        except Exception:  # noqa: BLE001 - a store blip: the reconnect starts the playlists afresh, the stream lives
            log.exception("live stream %s could not be handed over", running.live_stream_id)
        finally:
            with self.lock:
                if self.sessions.get(running.live_stream_id) is running:
                    del self.sessions[running.live_stream_id]
            if running.connected:
                self._disconnected(running)  # nginx's next on_update drops an RTMP publisher still connected

    def _disconnected(self, running: RunningSession) -> None:
        """The reconnect window starts; the encoder drains what it has (nginx ends its input: idle_streams off)."""
        running.connected = False
        with self.platform.sessions() as db_session:
            service.publish_ended(db_session=db_session, live_stream_id=running.live_stream_id,
                                  settings=self.platform.settings)

    def supervise_once(self) -> None:
        """Stop encoders of disabled/deleted/completed streams; end sessions past their reconnect window."""
        with self.lock:
            running = list(self.sessions.values())
        self._record_figures(running)
        self.simulcast.reconcile({item.live_stream_id: item.session.fanout for item in running if item.connected})
        with self.platform.sessions() as db_session:
            self._keep_leases(db_session, running)
            for item in running:
                if item.connected and service.should_stop(db_session=db_session, live_stream_id=item.live_stream_id):
                    item.session.end_input()  # what the encoder holds is flushed and kept
            ending = service.sessions_to_end(db_session=db_session, now=self.clock())
            for stream in ending:
                if self.hand_over and not service.still_to_end(db_session=db_session, stream=stream, now=self.clock()):
                    continue  # another ingest closed it meanwhile
                ready, ours = self._claim(stream)
                if not ready:
                    continue  # being handed over: closed from the store once its state is there
                if ours is None and self.hand_over and service.held_by_ingest(stream, self.clock()):
                    continue  # live on another ingest, which closes it itself
                duration = self._end_session(stream, ours)
                service.complete_session(db_session=db_session, stream=stream, duration=duration,
                                         settings=self.platform.settings, now=self.clock())  # fmt: skip

    def _keep_leases(self, db_session: Session, running: list[RunningSession]) -> None:
        """One of several ingests says it still holds its publishers; one that stops saying so (killed) lets their
        reconnects in elsewhere once its lease is stale (service.INGEST_LEASE_SECONDS), and the first live ingest
        to see that says its publishers left, as the dead one would have. One that was only stalled finds its
        lease lost and hands those sessions over (their publishers reconnect), as the catalog now says."""
        if not self.hand_over or time.monotonic() - self.lease_kept_at < service.LEASE_HEARTBEAT_SECONDS:
            return
        self.lease_kept_at, now = time.monotonic(), self.clock()
        self.catalog_since = self.catalog_since or now
        held = {item.live_stream_id: item for item in running if item.connected}
        for live_stream_id in service.keep_leases(db_session=db_session, live_stream_ids=list(held), now=now):
            if self._start_hand_over(held[live_stream_id]):  # not one already leaving (its publisher went)
                log.warning("live stream %s: this ingest lost its lease (no heartbeat for %.0f s) and another said its "
                            "publisher left: the publisher is dropped, and its reconnect continues the session",
                            live_stream_id, service.INGEST_LEASE_SECONDS)  # fmt: skip
        if now - self.catalog_since < timedelta(seconds=service.INGEST_LEASE_SECONDS):
            return  # just started, or the catalog was down: the others get a whole lease to renew theirs first
        for live_stream_id in service.end_stale_leases(db_session=db_session, settings=self.platform.settings,
                                                       now=now):  # fmt: skip
            log.warning("live stream %s: the ingest holding its publisher stopped its heartbeat (killed?): "
                        "disconnected as of that heartbeat", live_stream_id)

    def _record_figures(self, running: list[RunningSession]) -> None:
        """Per-stream series while a publisher is connected; gone when it leaves or the session ends."""
        connected = {item.live_stream_id: item for item in running if item.connected}
        metrics.set_live_active_streams(len(connected))
        for live_stream_id, item in connected.items():
            metrics.record_live_stream(live_stream_id, **asdict(item.session.figures()))
        for live_stream_id in self.reported - connected.keys():
            metrics.forget_live_stream(live_stream_id)
        self.reported = set(connected)

    def _claim(self, stream: LiveStream) -> tuple[bool, RunningSession | None]:
        """This process's session of a stream to end, taken out of `sessions` (None: not ours); not ready while
        it is being handed over."""
        with self.lock:
            item = self.sessions.get(stream.id)
            if item is None or item.session.prefix != service.session_prefix(stream):
                return True, None
            if item.leaving:
                return False, None
            del self.sessions[stream.id]
        return True, item

    def _end_session(self, stream: LiveStream, item: RunningSession | None) -> float | None:
        """Stop the encoder and close the recording with ENDLIST, ours or one handed over to the store; its media
        duration (None if neither: another ingest holds it)."""
        prefix = service.session_prefix(stream)
        if item is not None:
            self._end_connection(item)
        elif not self.hand_over or prefix is None or (item := self._handed_over(stream, prefix)) is None:
            return None
        duration = item.session.finish()
        if item.session.recording and item.mp4_support != "none":
            threading.Thread(target=self._static_mp4, args=(item,), name=f"live-mp4-{stream.id}",
                             daemon=True).start()  # fmt: skip
        return duration

    def _end_connection(self, item: RunningSession) -> None:
        """End the current connection at its input: the encoder drains (killed past ENCODER_DRAIN_SECONDS), the
        packager keeps what it flushed."""
        item.session.end_input()
        if item.thread is not None:
            item.thread.join(timeout=ENCODER_DRAIN_SECONDS + 5)
            item.session.stop_encoder()
            item.thread.join(timeout=5)

    def _handed_over(self, stream: LiveStream, prefix: str) -> RunningSession | None:
        """A session whose publisher went and never came back to any ingest, rebuilt from its hand-over (or from
        its playlists, when its ingest died)."""
        session = LiveSession(asset_id=stream.active_asset_id, prefix=prefix, store=self.platform.store,
                              settings=self.platform.settings, low_latency=stream.latency_mode == "low",
                              sessions=self.platform.sessions)  # fmt: skip
        if not session.take_over(None):
            return None
        return RunningSession(stream.id, session, mp4_support=service.mp4_support(stream))

    def _static_mp4(self, item: RunningSession) -> None:
        """The finished recording's static MP4 (a remux): added to the asset when written, or the reason logged."""
        try:
            rendition = item.session.static_mp4(item.mp4_support)
        except (MediaError, OSError, subprocess.SubprocessError) as exc:
            log.warning("static MP4 of the recording %s failed: %s", item.session.asset_id, exc)
            return
        if rendition is not None and item.session.asset_id is not None:
            with self.platform.sessions() as db_session:
                assets.add_static_rendition(db_session=db_session, asset_id=item.session.asset_id,
                                            rendition=rendition, edge_base_url=self.platform.settings.edge_base_url)

    def supervise(self) -> None:
        while not self.stopping.wait(SUPERVISE_SECONDS):
            try:
                self.supervise_once()
            except Exception:  # noqa: BLE001 - a catalog blip must not end the supervision loop
                self.catalog_since = None  # other ingests could not renew their leases either
                log.warning("live supervision failed; retrying", exc_info=True)

    def drain(self, timeout: float) -> list[str]:
        """Admit no new session; wait up to `timeout` for this process's sessions to end on their own (publisher
        gone, or completed), then hand the rest over to their publishers' reconnects (`hand_over`) or end them
        now. The ids still live at the deadline."""
        self.draining.set()
        deadline = time.monotonic() + timeout
        while self._session_ids() and time.monotonic() < deadline:
            time.sleep(SUPERVISE_SECONDS / 2)
        forced = self._session_ids()
        for live_stream_id in forced:
            if self.hand_over:
                log.warning("live stream %s handed over at the drain deadline (%.0f s) of this ingest: its publisher "
                            "reconnects to another task", live_stream_id, timeout)
                with self.lock:
                    running = self.sessions.get(live_stream_id)
                if running is not None:
                    self._start_hand_over(running)
            else:
                log.warning("live stream %s ended by the drain deadline (%.0f s) of this ingest", live_stream_id,
                            timeout)
                self._request_end(live_stream_id)
        deadline = time.monotonic() + 10 * SUPERVISE_SECONDS + 15  # hand-overs end, or the supervision closes them
        while self._session_ids() and time.monotonic() < deadline:
            time.sleep(SUPERVISE_SECONDS / 2)
        return forced

    def _request_end(self, live_stream_id: str) -> None:
        """As `complete` does: the supervision loop stops the encoder and closes the recording."""
        with self.platform.sessions() as db_session:
            stream = service.get_live_stream(db_session=db_session, live_stream_id=live_stream_id)
            if stream is not None:
                service.request_completion(db_session=db_session, stream=stream)

    def _session_ids(self) -> list[str]:
        with self.lock:
            return list(self.sessions)

    def stop(self) -> None:
        self.stopping.set()
        with self.lock:
            running = list(self.sessions.values())
            probing = [a.relay for a in self.admitting.values() if a.relay is not None]
        for item in running:
            item.session.stop_encoder()
        for relay in probing:
            kill_group(relay)
        self.simulcast.stop_all()
        for live_stream_id in self.reported:
            metrics.forget_live_stream(live_stream_id)
        self.reported = set()


def start_nginx(config: str, run_dir: Path) -> subprocess.Popen[bytes]:
    """nginx in the foreground (its own process group), with its config and logs under run_dir."""
    run_dir.mkdir(parents=True, exist_ok=True)
    conf = run_dir / "nginx.conf"
    conf.write_text(config)
    binary = find_nginx()
    if binary is None:
        raise FileNotFoundError("nginx with the RTMP module (Debian: nginx libnginx-mod-rtmp) is not installed")
    stop_leftover_nginx(run_dir)
    if (socket := stat_socket(run_dir)) is not None:
        socket.unlink(missing_ok=True)  # left by a killed nginx: binding it again would fail
    return subprocess.Popen([binary, "-p", str(run_dir), "-e", str(run_dir / "nginx-error.log"), "-c", str(conf)],
                            stdin=subprocess.DEVNULL, start_new_session=True)  # fmt: skip


def stop_leftover_nginx(run_dir: Path) -> bool:
    """An nginx of a killed ingest (SIGKILL skips our cleanup; it runs in its own session) still holds the RTMP
    port: stop it before starting ours. Only a process whose command line names this run_dir is touched."""
    try:
        pid = int((run_dir / "nginx.pid").read_text().split()[0])
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except (OSError, ValueError, IndexError):
        return False
    if b"-p" not in argv or argv[argv.index(b"-p") + 1 :][:1] != [str(run_dir).encode()]:
        return False  # the pid was reused by something else
    log.warning("stopping a leftover nginx (pid %s) of a killed ingest in %s", pid, run_dir)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + 5
        while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        os.kill(pid, signal.SIGKILL)
    return True


def wait_for_port(host: str, port: int, timeout: float = 10.0) -> bool:
    import socket

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(0.2)
            if sock.connect_ex((host, port)) == 0:
                return True
        time.sleep(0.05)
    return False


class _CallbackHandler(BaseHTTPRequestHandler):
    """nginx-rtmp's on_publish / on_publish_done POSTs (loopback only)."""

    ingest: LiveIngest

    def do_POST(self) -> None:  # noqa: N802 - the http.server naming
        length = min(int(self.headers.get("content-length") or 0), MAX_CALLBACK_BYTES)
        form = self.rfile.read(length)
        headers: dict[str, str] = {}
        if self.path.startswith("/rtmp/on_publish_done"):
            status = self.ingest.on_publish_done(form)
        elif self.path.startswith("/rtmp/on_publish"):
            status, headers = self.ingest.on_publish(form)
        elif self.path.startswith("/rtmp/on_update"):
            status = 200 if self.ingest.on_update(form) else 403
        elif self.path.startswith("/rtmp/on_play"):
            status = 200 if self.ingest.may_play(form) else 403
        else:
            status = 404
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("content-length", "0")
        self.end_headers()
        if self.path.startswith("/rtmp/on_play") and status == 200:
            self.wfile.flush()
            self.ingest.relay_attached(form)  # answered: nginx now joins the relay to the stream

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - keys stay out of access logs
        return


def serve_callbacks(ingest: LiveIngest, port: int = 0) -> ThreadingHTTPServer:
    """The callback listener on loopback (port 0: any free port); serve_forever runs in a daemon thread."""
    handler = type("CallbackHandler", (_CallbackHandler,), {"ingest": ingest})
    server = ThreadingHTTPServer(("127.0.0.1", port), handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="live-callbacks", daemon=True).start()
    return server


def run_ingest(platform: Platform, stop: threading.Event) -> None:
    """The ingest process: nginx-rtmp and its callbacks, the SRT front, session supervision; until `stop`."""
    settings = platform.settings
    ingest = LiveIngest(platform, settings.rtmp_port, max_sessions=settings.live_max_sessions,
                        hand_over=settings.live_hand_over)
    host = "0.0.0.0" if settings.api_host in ("0.0.0.0", "::") else settings.api_host
    callbacks = serve_callbacks(ingest)
    # nginx reads relative paths against its -p prefix; one per port, so ingests sharing a data dir keep their own
    run_dir = (settings.data_dir / "live" / f"nginx-{settings.rtmp_port}").resolve()
    nginx = None
    if settings.rtmp_port and find_nginx() is not None:
        config = nginx_config(run_dir=run_dir, rtmp_host=host, rtmp_port=settings.rtmp_port,
                              callback_url=f"http://127.0.0.1:{callbacks.server_address[1]}")  # fmt: skip
        nginx = start_nginx(config, run_dir)
        ingest.rtmp_stat = stat_socket(run_dir)
        log.info("RTMP ingest on %s:%s", host, settings.rtmp_port)
    front = start_srt_front(ingest, host, settings.srt_port) if settings.srt_port else None
    supervisor = threading.Thread(target=ingest.supervise, name="live-supervise", daemon=True)
    supervisor.start()
    try:
        reported = False
        while not stop.wait(0.5):
            if nginx is not None and nginx.poll() is not None and not reported:  # e.g. the port is taken
                log.error("RTMP ingest is off: nginx exited with %s; see %s", nginx.returncode,
                          run_dir / "nginx-error.log")
                reported = True
        ingest.drain(settings.live_drain_seconds)
    finally:
        ingest.stop()
        supervisor.join(timeout=30)  # a session being closed is committed before the process exits
        if front is not None:
            front.stop()
        if nginx is not None and nginx.poll() is None:
            nginx.terminate()
            try:
                nginx.wait(timeout=10)
            except subprocess.TimeoutExpired:
                nginx.kill()
        callbacks.shutdown()


def start_srt_front(ingest: LiveIngest, host: str, port: int) -> SrtFront | None:
    """The SRT front on its own thread; None (said once in the log) when the port cannot be bound."""
    try:
        front = SrtFront(host, port, ingest.admit_srt)
    except OSError as exc:
        log.error("SRT ingest is off: cannot listen on %s:%s (%s)", host, port, exc)
        return None
    threading.Thread(target=front.serve, name="srt-front", daemon=True).start()
    log.info("SRT ingest on %s:%s", host, port)
    return front
