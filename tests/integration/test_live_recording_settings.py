"""new_asset_settings decides what a live session keeps: nothing beyond its DVR window, or a recording (+ MP4).

The sessions are the real live encoder and packager's (fed by lavfi, see tests/live_recording.py); they
end through the ingest's own supervision, as after a reconnect window or `complete`.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import imageio_ffmpeg
import pytest
from fastapi.testclient import TestClient

from streamstack.delivery.app import create_edge_app
from streamstack.live.ingest import LiveIngest, RunningSession
from streamstack.storage.keys import asset_object_key
from tests.conftest import make_settings, wait_until
from tests.live_recording import LIVE_SETTINGS, Recording, start_recording


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path / "data", **LIVE_SETTINGS)


def new_stream(client: TestClient, headers: dict[str, str], **body: Any) -> dict[str, Any]:
    response = client.post("/v1/live-streams", json=body, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


def end_through_the_ingest(platform: Any, client: TestClient, headers: dict[str, str], recording: Recording,
                           mp4_support: str = "none") -> LiveIngest:  # fmt: skip
    """`complete`, then the ingest's supervision closes the session as it does for a live publisher."""
    ingest = LiveIngest(platform, 0)
    ingest.sessions[recording.live_stream_id] = RunningSession(recording.live_stream_id, recording.session,
                                                               mp4_support=mp4_support)  # fmt: skip
    with platform.sessions() as db_session:
        from streamstack.live import service

        service.publish_ended(db_session=db_session, live_stream_id=recording.live_stream_id,
                              settings=platform.settings)  # fmt: skip
    assert client.put(f"/v1/live-streams/{recording.live_stream_id}/complete", headers=headers).status_code == 200
    ingest.supervise_once()
    return ingest


def test_without_new_asset_settings_the_stream_plays_live_and_nothing_is_recorded(
        client: TestClient, headers: dict[str, str], platform: Any) -> None:  # fmt: skip
    stream = new_stream(client, headers)
    recording = start_recording(platform, stream["stream_key"])
    assert recording.asset_id is None
    recording.publish(6)
    playback = stream["playback_ids"][0]["id"]
    with TestClient(create_edge_app(platform)) as edge:
        master = edge.get(f"/{playback}.m3u8")
        assert master.status_code == 200 and "360p/ll.m3u8" in master.text
        media = edge.get(f"/{playback}/360p/ll.m3u8")
        assert media.status_code == 200 and "#EXT-X-PART:" in media.text
        assert "recording.m3u8" not in master.text
    shown = client.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()
    assert shown["status"] == "active" and shown["active_asset_id"] is None
    assert client.get("/v1/assets", headers=headers).json()["data"] == [], "no asset is created or listed"
    keys = [info.key for info in platform.store.list("")]
    prefix = f"live/{stream['id']}/"
    assert keys and all(key.startswith(prefix) for key in keys), "a live-only home, keyed by stream and session"
    assert not any(key.endswith(("master.m3u8", "recording.m3u8")) for key in keys)
    end_through_the_ingest(platform, client, headers, recording)
    assert list(platform.store.list("")) == [], "the session's objects go when it ends"
    idle = client.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()
    assert idle["status"] == "idle" and idle["recent_asset_ids"] == []
    with TestClient(create_edge_app(platform)) as edge:
        assert edge.get(f"/{playback}.m3u8").status_code == 404


def test_a_recording_with_mp4_support_gets_a_static_mp4_remuxed_across_a_reconnect(
        client: TestClient, headers: dict[str, str], platform: Any, tmp_path: Path) -> None:  # fmt: skip
    stream = new_stream(client, headers, new_asset_settings={"mp4_support": "standard"})
    recording = start_recording(platform, stream["stream_key"])
    recording.publish(6)
    recording.publish(4)  # the same session after a reconnect: a second init segment
    asset_id = str(recording.asset_id)
    end_through_the_ingest(platform, client, headers, recording, mp4_support="standard")
    asset = wait_until(lambda: (a := client.get(f"/v1/assets/{asset_id}", headers=headers).json())
                       ["static_renditions"] and a, 60, "the static MP4")  # fmt: skip
    assert asset["status"] == "ready" and asset["mp4_support"] == "standard"
    [mp4] = asset["static_renditions"]
    assert mp4["name"] == "high.mp4" and (mp4["width"], mp4["height"]) == (640, 360) and mp4["filesize"] > 0
    local = tmp_path / "high.mp4"
    local.write_bytes(b"".join(platform.store.get(asset_object_key(asset_id, "high.mp4"))))
    head = local.read_bytes()[:4096]
    assert 0 < head.find(b"moov") < max(head.find(b"mdat"), 4096), "faststart: the index comes first"
    run = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-stats", "-i", str(local),
                          "-f", "null", "-"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0 and "rror" not in run.stderr, run.stderr
    probe = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(local)], capture_output=True,
                           text=True)  # fmt: skip
    assert "Video: h264" in probe.stderr and "Audio: aac" in probe.stderr
    hours, minutes, seconds = probe.stderr.split("Duration: ")[1].split(",")[0].split(":")
    duration = 3600 * int(hours) + 60 * int(minutes) + float(seconds)
    assert duration == pytest.approx(asset["duration"], abs=0.5), "both connections, end to end"
    with platform.sessions() as db_session:
        from sqlalchemy import select

        from streamstack.webhooks.models import OutboxEvent

        types = list(db_session.scalars(select(OutboxEvent.type).where(OutboxEvent.object_id == asset_id)))
    assert "video.asset.static_renditions.ready" in types and "video.asset.ready" in types
    with TestClient(create_edge_app(platform)) as edge:
        served = edge.get(f"/{asset['playback_ids'][0]['id']}/high.mp4")
        assert served.status_code == 200 and served.content[4:8] == b"ftyp"
