"""The embedded VOD flow end to end: tus upload through the API, the worker encodes, the asset becomes ready,
the ready webhook arrives signed, and every rendition decodes from the store as planned."""

from __future__ import annotations

import json
import re
import subprocess
import threading
import time
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest
from sqlalchemy import select
from tusclient.client import TusClient

from streamstack.events.worker import Worker
from streamstack.media.ladder import plan_ladder
from streamstack.media.probe import probe
from streamstack.settings import Settings
from streamstack.storage.base import ObjectStore
from streamstack.webhooks.dispatcher import dispatch_due
from streamstack.webhooks.models import OutboxEvent
from streamstack.webhooks.service import create_endpoint
from tests.conftest import bearer, make_settings, reserve_port
from tests.integration.webhooks.conftest import SECRET, Receiver, ReceiverServer

pytestmark = pytest.mark.e2e

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
LADDER = [{"name": "180p", "height": 180, "video_kbps": 300}, {"name": "120p", "height": 120, "video_kbps": 150}]


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A custom two-rung ladder, so a tiny 320x180 source still shows alignment across renditions."""
    return make_settings(tmp_path / "data", segment_seconds=1.0, keyframe_seconds=1.0, ladder=LADDER)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    server = ReceiverServer(Receiver(port=reserve_port()))
    server.start()
    yield server.receiver
    server.stop()


def frames(path: Path) -> list[tuple[float, float]]:
    """(pts, duration) in seconds of every decoded video frame."""
    out = subprocess.run([FFMPEG, "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framecrc", "-"],
                         check=True, capture_output=True, text=True).stdout
    timebase = re.search(r"#tb 0: (\d+)/(\d+)", out)
    assert timebase, out
    scale = int(timebase.group(1)) / int(timebase.group(2))
    rows = [line.split(",") for line in out.splitlines() if line and not line.startswith("#")]
    return [(int(r[2]) * scale, int(r[3]) * scale) for r in rows]


def decoded_duration(path: Path) -> float:
    decoded = frames(path)
    return decoded[-1][0] + decoded[-1][1] - decoded[0][0]


def decoded_size(path: Path) -> tuple[int, int]:
    info = subprocess.run([FFMPEG, "-hide_banner", "-i", str(path)], capture_output=True, text=True).stderr
    match = re.search(r"Video: .*?, (\d{2,5})x(\d{2,5})", info)
    assert match, info
    return int(match.group(1)), int(match.group(2))


def download(store: ObjectStore, prefix: str, target: Path) -> None:
    for info in store.list(prefix):
        path = target / info.key[len(prefix):]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"".join(store.get(info.key)))


def segment_starts(directory: Path, playlist: str) -> list[float]:
    """First presentation time of each segment, decoded from init + that segment alone."""
    text = (directory / playlist).read_text()
    init = re.search(r'#EXT-X-MAP:URI="([^"]+)"', text).group(1)  # type: ignore[union-attr]
    starts = []
    for index, uri in enumerate(line for line in text.splitlines() if line and not line.startswith("#")):
        joined = directory / f"{playlist}.segment{index}.mp4"
        joined.write_bytes((directory / init).read_bytes() + (directory / uri).read_bytes())
        starts.append(round(frames(joined)[0][0], 3))
    return starts


def wait_for_status(api: str, key: str, asset_id: str, timeout: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        asset = httpx.get(f"{api}/v1/assets/{asset_id}", headers=bearer(key)).json()
        if asset["status"] in ("ready", "errored"):
            return asset
        time.sleep(0.2)
    raise AssertionError(f"asset {asset_id} not finished after {timeout} s")


def test_upload_encode_ready_webhook_and_decodable_renditions(live_api, admin_key, platform, clip, tmp_path,
                                                              receiver):
    with platform.sessions() as db_session:
        create_endpoint(db_session=db_session, url=receiver.url, event_types=["video.asset.ready"], secret=SECRET)
        db_session.commit()
    worker = Worker(platform, poll_seconds=0.2, ticks=[partial(dispatch_due, platform)])
    thread = threading.Thread(target=worker.run, daemon=True)
    thread.start()
    try:
        upload = httpx.post(f"{live_api.url}/v1/uploads", json={"new_asset_settings": {"mp4_support": "standard"}},
                            headers=bearer(admin_key))
        assert upload.status_code == 201, upload.text
        asset_id = upload.json()["asset_id"]
        TusClient(upload.json()["url"]).uploader(str(clip), chunk_size=64 * 1024).upload()
        asset = wait_for_status(live_api.url, admin_key, asset_id, timeout=180)
        deadline = time.monotonic() + 20
        while not receiver.delivered() and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        worker.stopping.set()
        thread.join(timeout=60)
    assert not thread.is_alive()

    assert asset["status"] == "ready", asset["errors"]
    assert asset["playable_at"] is not None and asset["playable_at"] <= asset["ready_at"]
    planned = [(plan.width, plan.height) for plan in plan_ladder(probe(clip), platform.settings)]
    assert len(planned) == 2
    assert [(r["width"], r["height"]) for r in asset["renditions"]] == planned
    assert asset["static_renditions"][0]["name"] == "high.mp4"

    source_duration = decoded_duration(clip)
    outputs = tmp_path / "outputs"
    download(platform.store, f"assets/{asset_id}/", outputs)
    boundaries = {}
    for rendition in asset["renditions"]:
        playlist = outputs / f"{rendition['name']}.m3u8"
        assert "#EXT-X-ENDLIST" in playlist.read_text()
        assert abs(decoded_duration(playlist) - source_duration) <= 0.1
        assert decoded_size(playlist) == (rendition["width"], rendition["height"])
        boundaries[rendition["name"]] = segment_starts(outputs, playlist.name)
    assert len(boundaries["180p"]) >= 2
    assert boundaries["180p"] == boundaries["120p"]

    with platform.sessions() as db_session:
        types = list(db_session.scalars(select(OutboxEvent.type).where(OutboxEvent.object_id == asset_id)))
    assert types.count("video.asset.ready") == 1
    [ready] = [r for r in receiver.delivered() if r.payload["type"] == "video.asset.ready"]
    assert ready.payload["object"] == {"type": "asset", "id": asset_id}
    assert ready.payload["data"]["status"] == "ready"
    assert json.loads(ready.body)["data"]["renditions"] == asset["renditions"]

