"""Clips over the API: a recording made by the real live encoder and packager, cut at segment boundaries."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamstack.delivery.app import create_edge_app
from streamstack.storage.keys import asset_object_key
from streamstack.webhooks.models import OutboxEvent
from tests.conftest import make_settings
from tests.live_recording import LIVE_SETTINGS, Recording, start_recording


@pytest.fixture
def settings(tmp_path: Path):  # type: ignore[no-untyped-def]
    return make_settings(tmp_path / "data", **LIVE_SETTINGS)


@pytest.fixture
def recording(client: TestClient, headers: dict[str, str], platform: Any) -> Recording:
    """A live session that has published 9 s so far (segments of 2 s), still live."""
    stream = client.post("/v1/live-streams", json={"new_asset_settings": {"meta": {"title": "Final"}}},
                         headers=headers).json()  # fmt: skip
    recording = start_recording(platform, stream["stream_key"])
    recording.publish(9)
    return recording


def clip(client: TestClient, headers: dict[str, str], source: str, **body: Any) -> Any:
    return client.post("/v1/assets", json={"input": f"streamstack://assets/{source}", **body}, headers=headers)


def objects(platform: Any, asset_id: str, name: str) -> bytes:
    return b"".join(platform.store.get(asset_object_key(asset_id, name)))


def segment_uris(playlist: str) -> list[str]:
    return [line for line in playlist.splitlines() if line and not line.startswith("#")]


def durations(playlist: str) -> list[float]:
    return [float(d) for d in re.findall(r"#EXTINF:([\d.]+),", playlist)]


def test_a_clip_of_a_finished_recording_is_ready_at_once_with_the_covering_segments(
        client: TestClient, headers: dict[str, str], platform: Any, recording: Recording) -> None:  # fmt: skip
    recording.complete()
    source = client.get(f"/v1/assets/{recording.asset_id}", headers=headers).json()
    assert source["status"] == "ready"
    response = clip(client, headers, source["id"], start_time=3, end_time=6.5,
                    playback_policy=["public", "signed"])  # fmt: skip
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["status"] == "ready" and made["id"] != source["id"]
    assert made["duration"] == pytest.approx(6.0, abs=0.05), "segments [2,4) [4,6) [6,8): the range, outward"
    assert [r["name"] for r in made["renditions"]] == ["360p", "180p"]
    assert made["max_width"] == 640 and made["meta"]["title"].startswith("Final")
    assert {p["policy"] for p in made["playback_ids"]} == {"public", "signed"}
    assert not {p["id"] for p in made["playback_ids"]} & {p["id"] for p in source["playback_ids"]}
    for rendition in ("360p", "180p"):
        original = objects(platform, source["id"], f"{rendition}/recording.m3u8").decode()
        cut = objects(platform, made["id"], f"{rendition}/recording.m3u8").decode()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in cut and cut.rstrip().endswith("#EXT-X-ENDLIST")
        assert "#EXT-X-MEDIA-SEQUENCE:0" in cut and '#EXT-X-MAP:URI="init0.mp4"' in cut
        assert segment_uris(cut) == segment_uris(original)[1:4]
        assert sum(durations(cut)) == pytest.approx(made["duration"], abs=0.05)
        for name in [*segment_uris(cut), "init0.mp4"]:  # copies of the very bytes: no re-encode
            assert objects(platform, made["id"], f"{rendition}/{name}") == objects(platform, source["id"],
                                                                                 f"{rendition}/{name}")
    size = next(r for r in made["renditions"] if r["name"] == "360p")["size_bytes"]
    assert size == sum(len(objects(platform, made["id"], f"360p/{n}")) for n in
                       [*segment_uris(objects(platform, made["id"], "360p/recording.m3u8").decode()), "init0.mp4"])
    with platform.sessions() as db_session:
        events = sorted(e.type for e in db_session.query(OutboxEvent).filter(OutboxEvent.object_id == made["id"]))
    assert events == ["video.asset.created", "video.asset.ready"]
    listed = client.get("/v1/assets", headers=headers).json()["data"]
    assert made["id"] in [a["id"] for a in listed]


def test_a_clip_plays_from_the_edge_with_its_own_playback_id(
        client: TestClient, headers: dict[str, str], platform: Any, recording: Recording) -> None:  # fmt: skip
    recording.complete()
    made = clip(client, headers, str(recording.asset_id), start_time=0, end_time=4,
                playback_policy=["signed"]).json()  # fmt: skip
    public = clip(client, headers, str(recording.asset_id), start_time=0, end_time=4).json()
    with TestClient(create_edge_app(platform)) as edge:
        signed_id = made["playback_ids"][0]["id"]
        assert edge.get(f"/{signed_id}.m3u8").status_code == 403, "signed playback as for any asset"
        playback = public["playback_ids"][0]["id"]
        master = edge.get(f"/{playback}.m3u8")
        assert master.status_code == 200 and "360p/recording.m3u8" in master.text
        media = edge.get(f"/{playback}/180p/recording.m3u8")
        assert media.status_code == 200 and "#EXT-X-ENDLIST" in media.text
        first = segment_uris(media.text)[0]
        assert edge.get(f"/{playback}/180p/{first}").content[4:8] in (b"moof", b"styp")


def test_a_live_recording_is_clipped_up_to_its_live_edge_and_not_beyond(
        client: TestClient, headers: dict[str, str], platform: Any, recording: Recording) -> None:  # fmt: skip
    live = client.get(f"/v1/assets/{recording.asset_id}", headers=headers).json()
    assert live["status"] == "preparing", "still live"
    made = clip(client, headers, live["id"], start_time=2, end_time=6)
    assert made.status_code == 201 and made.json()["status"] == "ready"
    assert made.json()["duration"] == pytest.approx(4.0, abs=0.05)
    beyond = clip(client, headers, live["id"], start_time=2, end_time=30)
    assert beyond.status_code == 422 and beyond.json()["code"] == "clip_range_outside"
    assert "live edge" in beyond.json()["detail"]
    recording.publish(4)  # the recording grows: what was beyond the edge is there now
    later = clip(client, headers, live["id"], start_time=8, end_time=12)
    assert later.status_code == 201, later.text
    cut = objects(platform, later.json()["id"], "360p/recording.m3u8").decode()
    assert "#EXT-X-DISCONTINUITY" in cut and '#EXT-X-MAP:URI="init1.mp4"' in cut, "the reconnect is kept"
    whole = clip(client, headers, live["id"])
    assert whole.status_code == 201 and whole.json()["duration"] >= 12


@pytest.mark.parametrize(("body", "status", "code"), [
    ({"start_time": 4, "end_time": 4}, 422, "clip_range_invalid"),
    ({"start_time": 6, "end_time": 2}, 422, "clip_range_invalid"),
    ({"start_time": 2, "end_time": 2.5}, 422, "clip_range_too_short"),
    ({"start_time": 0, "end_time": 60}, 422, "clip_range_outside"),
    ({"start_time": 50}, 422, "clip_range_invalid"),
    ({"mp4_support": "standard"}, 422, "clip_mp4_unsupported"),
])  # fmt: skip
def test_a_range_that_cannot_be_cut_is_refused_precisely(client: TestClient, headers: dict[str, str],
                                                         recording: Recording, body: dict[str, Any], status: int,
                                                         code: str) -> None:  # fmt: skip
    before = len(client.get("/v1/assets", headers=headers).json()["data"])
    response = clip(client, headers, str(recording.asset_id), **body)
    assert response.status_code == status, response.text
    problem = response.json()
    assert response.headers["content-type"].startswith("application/problem+json")
    assert problem["code"] == code and problem["detail"]
    assert len(client.get("/v1/assets", headers=headers).json()["data"]) == before, "nothing half-made"


def test_inputs_that_are_not_clippable_are_refused(client: TestClient, headers: dict[str, str],
                                                   platform: Any) -> None:  # fmt: skip
    unknown = clip(client, headers, "as_doesnotexist", start_time=0, end_time=4)
    assert unknown.status_code == 422 and unknown.json()["code"] == "clip_source_not_found"
    upload = client.post("/v1/uploads", json={}, headers=headers).json()  # an asset still waiting for its source
    waiting = clip(client, headers, upload["asset_id"], start_time=0, end_time=4)
    assert waiting.status_code == 422 and waiting.json()["code"] == "clip_source_not_segmented"
    words = clip(client, headers, upload["asset_id"], start_time="two", end_time=4)
    assert words.status_code == 422 and words.json()["errors"][0]["loc"][-1] == "start_time"
    infinite = clip(client, headers, upload["asset_id"], start_time=0, end_time="Infinity")
    assert infinite.status_code == 422
    url = client.post("/v1/assets", json={"input": "http://127.0.0.1:9/a.mp4", "start_time": 1}, headers=headers)
    assert url.status_code == 422 and url.json()["code"] == "clip_range_without_clip"


def test_a_repeated_clip_request_with_one_idempotency_key_makes_one_clip(
        client: TestClient, headers: dict[str, str], recording: Recording) -> None:  # fmt: skip
    keyed = {**headers, "Idempotency-Key": "goal-73"}
    first = clip(client, keyed, str(recording.asset_id), start_time=0, end_time=4)
    again = clip(client, keyed, str(recording.asset_id), start_time=0, end_time=4)
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    clips = [a for a in client.get("/v1/assets", headers=headers).json()["data"] if a["id"] != recording.asset_id]
    assert len(clips) == 1
    other = clip(client, keyed, str(recording.asset_id), start_time=2, end_time=6)
    assert other.status_code == 422, "the same key with another range is refused, not answered with the old clip"


def test_a_clip_of_a_clip_and_a_clip_that_outlives_its_source(
        client: TestClient, headers: dict[str, str], platform: Any, recording: Recording) -> None:  # fmt: skip
    recording.complete()
    first = clip(client, headers, str(recording.asset_id), start_time=2, end_time=8).json()
    assert client.delete(f"/v1/assets/{recording.asset_id}", headers=headers).status_code == 204
    second = clip(client, headers, first["id"], start_time=2, end_time=4)
    assert second.status_code == 201, second.text
    assert second.json()["duration"] == pytest.approx(2.0, abs=0.05)
    assert objects(platform, second.json()["id"], "360p/recording.m3u8").count(b"#EXTINF") == 1


def test_the_cli_cuts_a_clip(platform: Any, live_api: Any, admin_key: str, recording: Recording) -> None:
    import json
    import os
    import subprocess
    import sys

    env = {**os.environ, "STREAMSTACK_API_URL": live_api.url, "STREAMSTACK_API_KEY": admin_key}
    run = subprocess.run([sys.executable, "-m", "streamstack", "assets", "clip", str(recording.asset_id), "--start",
                          "1", "--end", "5", "--title", "Goal"], env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    made = json.loads(run.stdout)
    assert made["status"] == "ready" and made["meta"]["title"] == "Goal" and made["duration"] == pytest.approx(6.0)
    refused = subprocess.run([sys.executable, "-m", "streamstack", "assets", "clip", str(recording.asset_id),
                              "--start", "5", "--end", "1"], env=env, capture_output=True, text=True, timeout=120)
    assert refused.returncode == 1 and "must be before end_time" in refused.stderr
