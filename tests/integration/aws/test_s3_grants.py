"""Every S3 call a live session makes on AWS is one its role's policy in iam.tf allows.

moto enforces no IAM resource or `s3:prefix` condition, so the deploy rehearsal could not see an ingest
that may write only under assets/ while an unrecorded session writes under live/. Here the real session
(encoder, packager, a hand-over between two ingests, the edge reading it, its end) runs on moto's S3; each
request is recorded with the role that makes it and evaluated against that role's rendered statements.
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from streamstack.delivery.app import create_edge_app
from streamstack.events.worker import Worker
from streamstack.live.session import HANDOVER_NAME, LiveSession
from streamstack.storage.keys import source_key
from tests.infra.iam_policy import S3Recorder
from tests.integration.aws.conftest import aws_settings, create_aws_resources
from tests.live_recording import LIVE_SETTINGS, Recording, publisher_probe, start_recording


@pytest.fixture
def platform(tmp_path: Path, moto_endpoint: str) -> Iterator[Any]:
    """The aws profile on moto with the live ladder of the recording helper (the API and edge share it)."""
    from streamstack.platform import build_platform

    settings = aws_settings(tmp_path / "data", moto_endpoint, **LIVE_SETTINGS)
    create_aws_resources(settings)
    platform = build_platform(settings)
    yield platform
    platform.close()


def _handed_over(recording: Recording, platform: Any) -> None:
    """The publisher left and reconnected to another ingest: the state goes through the store."""
    recording.session.hand_over()
    taker = LiveSession(asset_id=recording.asset_id, prefix=recording.session.prefix, store=platform.store,
                        settings=platform.settings, low_latency=True, sessions=platform.sessions)  # fmt: skip
    assert taker.take_over(publisher_probe()), "the hand-over was not found"
    recording.session = taker


def _watch(edge: TestClient, playback: str) -> None:
    """A viewer: master, media playlist, init segment and a part."""
    assert edge.get(f"/{playback}.m3u8").status_code == 200
    media = edge.get(f"/{playback}/180p/ll.m3u8")
    assert media.status_code == 200, media.text
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', media.text)
    part = re.search(r'#EXT-X-PART:[^\n]*URI="([^"]+)"', media.text)
    assert init and part, media.text
    for name in (init.group(1), part.group(1)):
        assert edge.get(f"/{playback}/180p/{name}").status_code == 200


@pytest.mark.parametrize("recorded", [False, True], ids=["unrecorded", "recorded"])
def test_every_s3_call_of_a_live_session_is_granted_to_the_role_that_makes_it(
        client: TestClient, headers: dict[str, str], platform: Any, recorded: bool,
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    calls = S3Recorder(role="api")
    calls.attach(monkeypatch)
    body: dict[str, Any] = {"playback_policy": ["public"]}
    if recorded:
        body["new_asset_settings"] = {"playback_policy": ["public"]}
    stream = client.post("/v1/live-streams", json=body, headers=headers).json()

    calls.role = "ingest"
    recording = start_recording(platform, stream["stream_key"])
    recording.publish(3)
    _handed_over(recording, platform)
    recording.publish(2)
    prefix = recording.session.prefix
    assert prefix.startswith("assets/" if recorded else "live/")
    calls.role = "edge"
    with TestClient(create_edge_app(platform)) as edge:
        _watch(edge, stream["playback_ids"][0]["id"])
    calls.role = "ingest"
    recording.complete()

    denied = calls.denied(platform.settings.s3_bucket)
    made = {(c.role, c.operation) for c in calls.calls if (c.key or c.prefix or "").startswith(prefix)}
    assert {("ingest", "PutObject"), ("ingest", "HeadObject"), ("ingest", "GetObject"), ("ingest", "DeleteObject"),
            ("edge", "GetObject")} <= made, made  # fmt: skip
    assert not list(platform.store.list(prefix + HANDOVER_NAME)), "the hand-over goes once taken over"
    if not recorded:
        assert ("ingest", "ListObjectsV2") in made
        assert list(platform.store.list("live/")) == [], "the session's objects go when it ends"
    assert not denied, f"AccessDenied on AWS: {sorted({(c.role, c.operation, c.key or c.prefix) for c in denied})[:5]}"


def test_clips_text_tracks_and_deletions_the_api_makes_are_granted_to_it(
        client: TestClient, headers: dict[str, str], platform: Any,
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    """A clip of a finished recording, a text track added to it (published into its master, then removed), and
    both assets deleted: what the api writes under assets/ and tracks/, and lists to delete."""
    calls = S3Recorder(role="api")
    calls.attach(monkeypatch)
    stream = client.post("/v1/live-streams", json={"new_asset_settings": {"playback_policy": ["public"]}},
                         headers=headers).json()  # fmt: skip
    calls.role = "ingest"
    recording = start_recording(platform, stream["stream_key"])
    recording.publish(5)
    recording.complete()

    calls.role = "api"
    source = str(recording.asset_id)
    clip = client.post("/v1/assets", json={"input": f"streamstack://assets/{source}", "start_time": 0, "end_time": 4},
                       headers=headers)  # fmt: skip
    assert clip.status_code == 201, clip.text
    track = client.post(f"/v1/assets/{source}/tracks", data={"language_code": "en"},
                        files={"file": ("en.vtt", b"WEBVTT\n\n00:00.200 --> 00:01.800\nHello\n")}, headers=headers)
    assert track.status_code == 201, track.text
    assert client.delete(f"/v1/assets/{source}/tracks/{track.json()['id']}", headers=headers).status_code == 204
    for asset_id in (clip.json()["id"], source):
        assert client.delete(f"/v1/assets/{asset_id}", headers=headers).status_code == 204

    denied = calls.denied(platform.settings.s3_bucket)
    made = {(c.operation, (c.key or c.prefix or "").split("/")[0]) for c in calls.calls if c.role == "api"}
    assert {("PutObject", "assets"), ("PutObject", "tracks"), ("GetObject", "tracks"), ("DeleteObject", "tracks"),
            ("ListObjectsV2", "tracks"), ("DeleteObject", "assets")} <= made, made  # fmt: skip
    assert list(platform.store.list("")) == [], "every object of both assets went"
    assert not denied, f"AccessDenied on AWS: {sorted({(c.role, c.operation, c.key or c.prefix) for c in denied})[:5]}"


@pytest.fixture
def served_clip(clip: Path) -> Iterator[str]:
    """The test clip over loopback HTTP (allow-listed in the test settings), for a URL import."""
    handler = functools.partial(SimpleHTTPRequestHandler, directory=str(clip.parent))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/{clip.name}"
    server.shutdown()
    server.server_close()


def test_a_url_import_the_worker_fetches_is_granted_to_it(
        client: TestClient, headers: dict[str, str], platform: Any, served_clip: str, clip: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    calls = S3Recorder(role="api")
    calls.attach(monkeypatch)
    created = client.post("/v1/assets", json={"input": served_clip}, headers=headers)
    assert created.status_code == 201, created.text
    calls.role = "worker"
    worker = Worker(platform)
    (encode,) = [b for b in worker.bindings() if b.queue is platform.encode_queue]
    assert worker.poll(encode, wait_seconds=5) == 1
    calls.role = None

    asset_id = created.json()["id"]
    assert platform.store.head(source_key(asset_id)).size == clip.stat().st_size
    assert ("worker", "PutObject", source_key(asset_id)) in {(c.role, c.operation, c.key) for c in calls.calls}
    denied = calls.denied(platform.settings.s3_bucket)
    assert not denied, f"AccessDenied on AWS: {sorted({(c.role, c.operation, c.key or c.prefix) for c in denied})[:5]}"
