"""The real `streamstack ingest` process stopped as ECS stops it (SIGTERM to that process only) drains its session.

test_live_drain.py drives the drain in-process; here it is the command ECS runs, with its own nginx-rtmp and
encoders as children: the publisher keeps publishing, a new publisher is refused, and the process exits 0 once
its session ended as a recording, or closes it as one at the drain deadline.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from streamstack.live.ingest import find_nginx, wait_for_port
from tests.conftest import LiveServer, bearer, free_port, make_settings, missing_part, new_api_key, wait_until
from tests.e2e.chaos import process_env
from tests.e2e.processes import kill_tree
from tests.e2e.test_live_rtmp import LADDER, LiveClient, publish

pytestmark = pytest.mark.e2e
RECORDED = {"playback_policy": ["public"]}
DRAIN_SECONDS = 45.0
STOP_MARGIN_SECONDS = 15.0  # the live_ingest module drains for stopTimeout - 15 s: closing or handing over fits


@dataclass
class IngestProcess(LiveClient):
    """`streamstack ingest` as a child of the test, beside the API and the edge on the same catalog and store."""

    process: subprocess.Popen[bytes]
    log: Path

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]


def start_ingest(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """The ingest as ECS starts it: its own process, whose children (nginx, ffmpeg) are its business."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "streamstack", "ingest"], env=env, stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip


@pytest.fixture
def ingest(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[IngestProcess]:
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed")
    from streamstack.api import create_app
    from streamstack.delivery.app import create_edge_app
    from streamstack.platform import build_platform

    drain = getattr(request, "param", DRAIN_SECONDS)
    settings = make_settings(tmp_path / "data", rtmp_port=free_port(), live_ladder=LADDER,
                             live_x264_preset="ultrafast", live_dvr_window=30.0)  # fmt: skip
    platform = build_platform(settings)
    env = process_env(settings, tmp_path / "tmp", STREAMSTACK_RTMP_PORT=str(settings.rtmp_port),
                      STREAMSTACK_SRT_PORT="0", STREAMSTACK_API_HOST="127.0.0.1",
                      STREAMSTACK_LIVE_LADDER=json.dumps(LADDER), STREAMSTACK_LIVE_X264_PRESET="ultrafast",
                      STREAMSTACK_LIVE_DVR_WINDOW="30", STREAMSTACK_LIVE_MAX_SESSIONS="1",
                      STREAMSTACK_LIVE_DRAIN_SECONDS=str(drain))  # fmt: skip
    log = tmp_path / "ingest.log"
    process = start_ingest(env, log)
    try:
        with LiveServer(create_app(platform), settings.api_port) as api, \
                LiveServer(create_edge_app(platform), settings.edge_port) as edge:  # fmt: skip
            assert wait_for_port("127.0.0.1", settings.rtmp_port, timeout=30), log.read_text()
            yield IngestProcess(api.url, edge.url, f"rtmp://127.0.0.1:{settings.rtmp_port}/live",
                                bearer(new_api_key(platform, name="ingest-sigterm")), process, log)  # fmt: skip
    finally:
        if process.poll() is None:  # a failed test: the process and its nginx and ffmpegs go at once
            kill_tree(process.pid)
        process.wait()
        platform.close()


def _segments_so_far(url: str) -> int:
    """Segments the live playlist has listed since the session began (its media sequence + those it lists)."""
    response = httpx.get(url, timeout=5)
    if response.status_code != 200:
        return -1
    line = next((x for x in response.text.splitlines() if x.startswith("#EXT-X-MEDIA-SEQUENCE:")), None)
    segments = response.text.count("#EXTINF:")
    return int(line.split(":")[1]) + segments if line else -1


def test_sigterm_to_the_ingest_process_keeps_the_publisher_and_exits_once_the_session_ended(
    ingest: IngestProcess,
) -> None:
    live = ingest.create_stream(reconnect_window=1, new_asset_settings=RECORDED)
    other = ingest.create_stream(new_asset_settings=RECORDED)
    publisher = publish(f"{ingest.rtmp}/{live['stream_key']}", 16)
    try:
        media = wait_until(lambda: (s := ingest.stream(live["id"]))["active_asset_id"] and s, 20, "the session")
        playlist = f"{ingest.edge}/{media['playback_ids'][0]['id']}/180p/ll.m3u8"
        before = wait_until(lambda: (n := _segments_so_far(playlist)) > 0 and n, 20, "the first segments")
        ingest.process.send_signal(signal.SIGTERM)  # to the process only, as ECS does
        signalled = time.monotonic()
        refused = publish(f"{ingest.rtmp}/{other['stream_key']}", 4)
        assert refused.wait(timeout=20) != 0, "a draining ingest admits no new session"
        assert "refused by this ingest: draining" in ingest.log.read_text(), ingest.log_tail()
        wait_until(lambda: _segments_so_far(playlist) >= before + 2, 15, "the live playlist to keep growing")
        assert ingest.process.poll() is None and ingest.stream(live["id"])["connected"], ingest.log_tail()
        assert publisher.wait(timeout=30) == 0, publisher.stderr.read() if publisher.stderr else ""
        assert ingest.process.wait(timeout=DRAIN_SECONDS) == 0, ingest.log_tail()
        assert time.monotonic() - signalled < DRAIN_SECONDS
    finally:
        if publisher.poll() is None:
            publisher.kill()
    assert ingest.stream(other["id"])["status"] == "idle" and not ingest.stream(other["id"])["active_asset_id"]
    done = ingest.stream(live["id"])
    assert done["status"] == "idle" and done["recent_asset_ids"] == [media["active_asset_id"]]
    asset = httpx.get(f"{ingest.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=ingest.headers).json()
    assert asset["status"] == "ready" and asset["duration"] >= 10, asset
    assert "ended by the drain deadline" not in ingest.log.read_text()


@pytest.mark.parametrize("ingest", [4.0], indirect=True)
def test_at_the_drain_deadline_the_ingest_process_closes_its_session_as_a_recording(ingest: IngestProcess) -> None:
    live = ingest.create_stream(reconnect_window=60, new_asset_settings=RECORDED)
    publisher = publish(f"{ingest.rtmp}/{live['stream_key']}", 60)
    try:
        media = wait_until(lambda: (s := ingest.stream(live["id"]))["active_asset_id"] and s, 20, "the session")
        playlist = f"{ingest.edge}/{media['playback_ids'][0]['id']}/180p/ll.m3u8"
        wait_until(lambda: _segments_so_far(playlist) > 0, 20, "the first segments")
        ingest.process.send_signal(signal.SIGTERM)
        signalled = time.monotonic()
        assert ingest.process.wait(timeout=4.0 + STOP_MARGIN_SECONDS) == 0, ingest.log_tail()
        assert time.monotonic() - signalled >= 4.0, "the session was given its drain time"
    finally:
        publisher.kill()
        publisher.wait()
    done = ingest.stream(live["id"])
    assert done["status"] == "idle" and done["recent_asset_ids"] == [media["active_asset_id"]], done
    asset = httpx.get(f"{ingest.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=ingest.headers).json()
    assert asset["status"] == "ready"
    recording = httpx.get(f"{ingest.edge}/{asset['playback_ids'][0]['id']}/180p/recording.m3u8").text
    assert "#EXT-X-ENDLIST" in recording and "#EXTINF:" in recording
    assert "ended by the drain deadline" in ingest.log.read_text()
