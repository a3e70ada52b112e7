"""Two `streamstack ingest` processes sharing one catalog and one store, as the ECS tasks of the aws shape do:
SIGTERM to the one holding a live session hands the session over, and the publisher's reconnect continues it
on the other (the same stream, still `active`, the same recording asset, a discontinuity in its playlists).
SIGKILL to the whole task (an out-of-memory kill) hands nothing over: once its lease in the catalog is stale, the
other says its publisher left (`connected: false`, `video.live_stream.disconnected`) and takes the session over
from the playlists the dead one published.

Real parts: nginx-rtmp and the wheel's ffmpeg in both processes, ffmpeg as a publisher that reconnects as OBS
does, through a stand-in for the NLB that sends each new connection to a registered task.
"""

from __future__ import annotations

import json
import signal
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest
from sqlalchemy import select

from streamstack.live.ingest import find_nginx, wait_for_port
from streamstack.webhooks.models import OutboxEvent
from tests.conftest import LiveServer, bearer, free_port, make_settings, missing_part, new_api_key, wait_until
from tests.e2e.chaos import process_env
from tests.e2e.processes import command_of, descendants_of, kill_tree
from tests.e2e.test_live_ingest_sigterm import STOP_MARGIN_SECONDS, start_ingest
from tests.e2e.test_live_rtmp import LADDER, LiveClient, LiveStack, publish, stack  # noqa: F401 - the fixture
from tests.unit.media.llhls_rules import check_playlist, parse

__all__ = ["stack"]
pytestmark = pytest.mark.e2e
DRAIN_SECONDS = 3.0  # short: the session is still live at the deadline, so it is handed over


@dataclass
class Ingest:
    """One ingest task: its process, RTMP URL and log."""

    process: subprocess.Popen[bytes]
    rtmp: str
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


@dataclass
class Pair(LiveClient):
    """The API and the edge in this process, and two ingest tasks on the same catalog and store."""

    a: Ingest = field(kw_only=True)
    b: Ingest = field(kw_only=True)
    platform: Any = field(kw_only=True)  # the catalog: the webhook events the ingests recorded (its outbox)

    def events(self, live_stream_id: str) -> list[tuple[str, dict[str, Any]]]:
        """The stream's `video.live_stream.*` webhook events so far, oldest first: (type, data)."""
        with self.platform.sessions() as db_session:
            query = select(OutboxEvent).where(OutboxEvent.object_id == live_stream_id)
            return [(e.type, e.data) for e in db_session.scalars(query.order_by(OutboxEvent.created_at))]


@pytest.fixture
def pair(tmp_path: Path) -> Iterator[Pair]:
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed")
    from streamstack.api import create_app
    from streamstack.delivery.app import create_edge_app
    from streamstack.platform import build_platform

    settings = make_settings(tmp_path / "data", rtmp_port=free_port(), live_ladder=LADDER,
                             live_x264_preset="ultrafast", live_dvr_window=30.0)  # fmt: skip
    platform = build_platform(settings)
    ingests: list[Ingest] = []
    try:
        for name, port in (("a", settings.rtmp_port), ("b", free_port())):
            env = process_env(settings, tmp_path / f"tmp-{name}", STREAMSTACK_RTMP_PORT=str(port),
                              STREAMSTACK_SRT_PORT="0", STREAMSTACK_API_HOST="127.0.0.1",
                              STREAMSTACK_LIVE_LADDER=json.dumps(LADDER), STREAMSTACK_LIVE_X264_PRESET="ultrafast",
                              STREAMSTACK_LIVE_DVR_WINDOW="30", STREAMSTACK_LIVE_MAX_SESSIONS="1",
                              STREAMSTACK_LIVE_HAND_OVER="true",
                              STREAMSTACK_LIVE_DRAIN_SECONDS=str(DRAIN_SECONDS))  # fmt: skip
            log = tmp_path / f"ingest-{name}.log"
            ingests.append(Ingest(start_ingest(env, log), f"rtmp://127.0.0.1:{port}/live", log))
        for ingest in ingests:
            port = int(ingest.rtmp.split(":")[2].split("/")[0])
            assert wait_for_port("127.0.0.1", port, timeout=30), ingest.log_tail()
        with LiveServer(create_app(platform), settings.api_port) as api, \
                LiveServer(create_edge_app(platform), settings.edge_port) as edge:  # fmt: skip
            yield Pair(api.url, edge.url, ingests[0].rtmp, bearer(new_api_key(platform, name="handover")),
                       a=ingests[0], b=ingests[1], platform=platform)  # fmt: skip
    finally:
        for ingest in ingests:
            if ingest.process.poll() is None:
                kill_tree(ingest.process.pid)
            ingest.process.wait()
        platform.close()


class ReconnectingPublisher:
    """ffmpeg publishing as OBS does: when its connection drops it connects again a second later, through a load
    balancer that sends each new connection to the first task still registered (`targets`; none: it keeps trying)."""

    def __init__(self, stream_key: str, targets: list[str]) -> None:
        self.stream_key, self.targets = stream_key, targets
        self.connections: list[str] = []
        self.stopping = threading.Event()
        self.current: subprocess.Popen[bytes] | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopping.is_set():
            if not self.targets:
                self.stopping.wait(0.2)
                continue
            target = self.targets[0]
            self.connections.append(target)
            self.current = publish(f"{target}/{self.stream_key}", 300)
            while self.current.poll() is None and not self.stopping.wait(0.2):
                pass
            self.stopping.wait(1.0)

    def stop(self) -> None:
        self.stopping.set()
        if self.current is not None and self.current.poll() is None:
            self.current.kill()
        self.thread.join(timeout=10)
        if self.current is not None:
            self.current.wait()


def _live_children(pids: list[int]) -> list[str]:
    """Which of these processes (ffmpeg, nginx) still run: orphans once their ingest exited."""
    alive = []
    for pid in pids:
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except FileNotFoundError:
            continue
        if state != "Z":
            alive.append(" ".join(command_of(pid)[:3]))
    return alive


def _complete_into_one_recording(pair: Pair, live: dict[str, Any], media: dict[str, Any]) -> str:
    """`complete` once the publisher left: the session goes idle with one ready recording, whose 180p playlist URL
    at the edge this returns."""
    completed = httpx.put(f"{pair.api}/v1/live-streams/{live['id']}/complete", headers=pair.headers)
    assert completed.status_code == 200, completed.text
    done = wait_until(lambda: (s := pair.stream(live["id"]))["status"] == "idle" and s, 60, "the session closed")
    assert done["recent_asset_ids"] == [media["active_asset_id"]], "one recording for the whole session"
    asset = httpx.get(f"{pair.api}/v1/assets/{media['active_asset_id']}", headers=pair.headers).json()
    assert asset["status"] == "ready", asset
    return f"{pair.edge}/{asset['playback_ids'][0]['id']}/180p/recording.m3u8"


def test_sigterm_hands_a_live_session_over_to_the_ingest_the_publisher_reconnects_to(pair: Pair) -> None:
    live = pair.create_stream(reconnect_window=60, new_asset_settings={"playback_policy": ["public"]})
    publisher = ReconnectingPublisher(live["stream_key"], [pair.a.rtmp, pair.b.rtmp])
    try:
        media = wait_until(lambda: (s := pair.stream(live["id"]))["active_asset_id"] and s, 30, "the session on A")
        playback = media["playback_ids"][0]["id"]
        playlist = f"{pair.edge}/{playback}/180p/ll.m3u8"
        wait_until(lambda: "#EXTINF:" in _get(playlist), 30, "the first segments from A")
        children = [pid for pid in descendants_of(pair.a.process.pid) if command_of(pid)]
        assert any("nginx" in " ".join(command_of(pid)) for pid in children), children
        publisher.targets[:] = [pair.b.rtmp]  # ECS deregisters the task from the NLB, then sends SIGTERM
        pair.a.process.send_signal(signal.SIGTERM)
        assert pair.a.process.wait(timeout=DRAIN_SECONDS + STOP_MARGIN_SECONDS) == 0, pair.a.log_tail()
        assert "handed over at the drain deadline" in pair.a.log.read_text(), pair.a.log_tail()
        assert _live_children(children) == [], "the ingest left no ffmpeg or nginx behind"
        wait_until(lambda: pair.b.rtmp in publisher.connections and pair.stream(live["id"])["connected"], 60,
                   "the publisher's reconnect to B")  # fmt: skip
        during = pair.stream(live["id"])
        assert during["status"] == "active" and during["active_asset_id"] == media["active_asset_id"], during
        continued = wait_until(lambda: "#EXTINF:" in _after_discontinuity(_get(playlist)) and _get(playlist), 60,
                               "a whole segment from B after the discontinuity")  # fmt: skip
        check_playlist(continued)
        assert "no ingest handed over" not in pair.b.log.read_text(), pair.b.log_tail()
        publisher.stop()  # the event is over: B hands the session over too, and `complete` closes it from the store
        recording = _complete_into_one_recording(pair, live, media)
    finally:
        publisher.stop()
    text = _get(recording)
    before, _, after = text.partition("#EXT-X-DISCONTINUITY\n")
    assert "#EXTINF:" in before and "#EXTINF:" in after and "#EXT-X-ENDLIST" in text, text
    segments = [line for line in text.splitlines() if line.endswith(".m4s")]
    assert segments == [f"{n}.m4s" for n in range(len(segments))], "B went on with A's media sequence"
    check_playlist(text, low_latency=False)
    decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", recording,
                              "-f", "null", "-"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


def test_a_handed_over_session_whose_publisher_never_returns_is_closed_from_the_store(stack: LiveStack) -> None:
    """No ingest holds the session once its publisher left: the supervision that sees the window pass closes
    the recording from the hand-over (ENDLIST, the asset ready, the hand-over gone)."""
    stack.ingest.hand_over = True
    live = stack.create_stream(reconnect_window=1, new_asset_settings={"playback_policy": ["public"]})
    publisher = publish(f"{stack.rtmp}/{live['stream_key']}", 6)
    media = wait_until(lambda: (s := stack.stream(live["id"]))["active_asset_id"] and s, 20, "the session")
    assert publisher.wait(timeout=30) == 0
    done = wait_until(lambda: (s := stack.stream(live["id"]))["status"] == "idle" and s, 30, "the session closed")
    assert done["recent_asset_ids"] == [media["active_asset_id"]] and not stack.ingest.sessions
    asset = httpx.get(f"{stack.api}/v1/assets/{media['active_asset_id']}", headers=stack.headers).json()
    assert asset["status"] == "ready" and asset["duration"] >= 4, asset
    text = _get(f"{stack.edge}/{asset['playback_ids'][0]['id']}/180p/recording.m3u8")
    assert "#EXTINF:" in text and "#EXT-X-ENDLIST" in text, text
    store = stack.ingest.platform.store
    assert not [o.key for o in store.list(f"assets/{media['active_asset_id']}/") if o.key.endswith("handover.json")]


def test_a_session_whose_ingest_was_killed_is_taken_over_from_the_playlists_it_published(pair: Pair) -> None:
    """SIGKILL to A's whole task mid-stream: no hand-over is written and the catalog still says A holds the publisher.
    Once A's lease is stale, B says the publisher left, as A would have (`connected: false`, still `active`, one
    `video.live_stream.disconnected`), while no task takes the publisher. Its reconnect then lands on B, which
    rebuilds the session from A's playlists: the same asset, A's media sequence going on after a discontinuity,
    and a VOD recording with both connections' media."""
    live = pair.create_stream(reconnect_window=120, new_asset_settings={"playback_policy": ["public"]})
    publisher = ReconnectingPublisher(live["stream_key"], [pair.a.rtmp, pair.b.rtmp])
    try:
        media = wait_until(lambda: (s := pair.stream(live["id"]))["active_asset_id"] and s, 30, "the session on A")
        playlist = f"{pair.edge}/{media['playback_ids'][0]['id']}/180p/ll.m3u8"
        wait_until(lambda: _get(playlist).count("#EXTINF:") >= 2, 30, "segments from A")
        publisher.targets[:] = []  # the NLB's health check takes the dead task out; B is registered later
        kill_tree(pair.a.process.pid)
        assert pair.a.process.wait(timeout=10) == -signal.SIGKILL
        at_kill = parse(_get(playlist))
        assert at_kill.segments and not _after_discontinuity(_get(playlist)), "A's connection only, no hand-over"
        gone = wait_until(lambda: not (s := pair.stream(live["id"]))["connected"] and s, 60,
                          "B to say A's publisher left, once A's lease is stale")  # fmt: skip
        assert gone["status"] == "active" and gone["active_asset_id"] == media["active_asset_id"], gone
        connections = [(t, d) for t, d in pair.events(live["id"]) if t.endswith("connected")]  # and disconnected
        types, each = [t for t, _ in connections], ["video.live_stream.connected", "video.live_stream.disconnected"]
        assert types and types == each * (len(types) // 2), f"each of A's connections ended, with one event: {types}"
        assert connections[-1][1]["connected"] is False and connections[-1][1]["status"] == "active", connections
        assert set(publisher.connections) == {pair.a.rtmp} and not pair.stream(live["id"])["connected"]
        publisher.targets[:] = [pair.b.rtmp]
        continued = wait_until(lambda: "#EXTINF:" in _after_discontinuity(_get(playlist)) and _get(playlist), 90,
                               "a whole segment from B after the discontinuity")  # fmt: skip
        check_playlist(continued)
        live_now = parse(continued)
        msns = [s.msn for s in live_now.segments]
        assert msns == list(range(msns[0], msns[0] + len(msns))), "the media sequence goes on without a gap"
        first_of_b = next(s for s in live_now.segments if s.discontinuity)
        assert first_of_b.msn > at_kill.segments[-1].msn, "B numbers on from A's segments"
        assert "had no hand-over (its ingest died): taken over from its playlists" in pair.b.log.read_text(), \
            pair.b.log_tail()  # fmt: skip
        publisher.stop()  # B hands the session over, and `complete` closes it from the store
        recording = _complete_into_one_recording(pair, live, media)
    finally:
        publisher.stop()
    text = _get(recording)
    vod = check_playlist(text, low_latency=False)
    assert vod.ended and text.count("#EXT-X-DISCONTINUITY\n") == 1, text
    assert [s.uri for s in vod.segments] == [f"{n}.m4s" for n in range(len(vod.segments))], "one media sequence"
    assert {s.uri for s in at_kill.segments} <= {s.uri for s in vod.segments}, "A's segments are in the recording"
    base = recording.rsplit("/", 1)[0]
    listed = [s.uri for s in vod.segments] + [line.split('"')[1] for line in text.splitlines()
                                              if line.startswith("#EXT-X-MAP:")]  # fmt: skip
    missing = [uri for uri in listed if httpx.get(f"{base}/{uri}", timeout=10).status_code != 200]
    assert missing == [], "every object the recording lists is in the store"
    a_seconds = sum(s.duration for s in vod.segments if s.msn < first_of_b.msn)
    b_seconds = sum(s.duration for s in vod.segments if s.msn >= first_of_b.msn)
    assert a_seconds >= sum(s.duration for s in at_kill.segments) and b_seconds >= 1.0, (a_seconds, b_seconds)
    assert _decoded_seconds(recording) >= a_seconds + b_seconds - 0.5, "the recording decodes, A's and B's media"


def test_a_session_whose_ingest_was_killed_and_whose_publisher_never_returns_is_closed_from_its_playlists(
        pair: Pair) -> None:  # fmt: skip
    """Killed with its task, A neither hands over nor says the publisher left: once its lease is stale and the
    reconnect window has passed, B's supervision closes the recording from A's playlists (ENDLIST, ready)."""
    live = pair.create_stream(reconnect_window=2, new_asset_settings={"playback_policy": ["public"]})
    publisher = publish(f"{pair.a.rtmp}/{live['stream_key']}", 300)
    try:
        media = wait_until(lambda: (s := pair.stream(live["id"]))["active_asset_id"] and s, 30, "the session on A")
        playlist = f"{pair.edge}/{media['playback_ids'][0]['id']}/180p/ll.m3u8"
        wait_until(lambda: _get(playlist).count("#EXTINF:") >= 2, 30, "segments from A")
        kill_tree(pair.a.process.pid)
        pair.a.process.wait(timeout=10)
        at_kill = parse(_get(playlist))
        done = wait_until(lambda: (s := pair.stream(live["id"]))["status"] == "idle" and s, 60, "the session closed")
    finally:
        publisher.kill()
        publisher.wait()
    assert done["recent_asset_ids"] == [media["active_asset_id"]]
    asset = httpx.get(f"{pair.api}/v1/assets/{media['active_asset_id']}", headers=pair.headers).json()
    assert asset["status"] == "ready" and asset["duration"] >= sum(s.duration for s in at_kill.segments), asset
    recording = f"{pair.edge}/{asset['playback_ids'][0]['id']}/180p/recording.m3u8"
    vod = check_playlist(_get(recording), low_latency=False)
    assert vod.ended and {s.uri for s in at_kill.segments} <= {s.uri for s in vod.segments}, vod
    assert _decoded_seconds(recording) >= sum(s.duration for s in vod.segments) - 0.5
    assert "had no hand-over (its ingest died)" in pair.b.log.read_text(), pair.b.log_tail()
    ends = [t for t, _ in pair.events(live["id"]) if t.endswith(("connected", ".idle"))]  # and disconnected
    assert ends == ["video.live_stream.connected", "video.live_stream.disconnected", "video.live_stream.idle"], ends


def _decoded_seconds(url: str) -> float:
    """Decode a recording segment by segment, each behind its own EXT-X-MAP, with ffmpeg: the seconds of video it
    holds (frames at the publisher's 30 fps). Not the playlist as one input: ffmpeg's HLS demuxer drops frames
    where a discontinuity starts the media time again (each connection's encoder starts at 0), as players do not."""
    base, text = url.rsplit("/", 1)[0], _get(url)
    frames, init = 0, b""
    for line in text.splitlines():
        if line.startswith("#EXT-X-MAP:"):
            map_uri = line.split('"')[1]
            init = httpx.get(f"{base}/{map_uri}", timeout=10).content
        elif line and not line.startswith("#"):
            frames += _decoded_frames(init + httpx.get(f"{base}/{line}", timeout=10).content)
    return frames / 30


def _decoded_frames(media: bytes) -> int:
    """How many video frames ffmpeg decodes from one init segment and media segment, with no error."""
    with tempfile.NamedTemporaryFile(suffix=".mp4") as segment:
        segment.write(media)
        segment.flush()
        run = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-nostats",
                              "-i", segment.name, "-map", "0:v:0", "-f", "null", "-", "-progress", "pipe:1"],
                             capture_output=True, timeout=120)  # fmt: skip
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    return [int(line.split(b"=", 1)[1]) for line in run.stdout.splitlines() if line.startswith(b"frame=")][-1]


def _get(url: str) -> str:
    response = httpx.get(url, timeout=10)
    return response.text if response.status_code == 200 else ""


def _after_discontinuity(playlist: str) -> str:
    """What a playlist lists after its first discontinuity ("" without one)."""
    _, found, rest = playlist.partition("#EXT-X-DISCONTINUITY\n")  # the tag, not DISCONTINUITY-SEQUENCE
    return rest if found else ""
