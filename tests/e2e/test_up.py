"""`streamstack up` as a user runs it: start, create a key, upload with tus (interrupted, resumed), see it consumed."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
from tusclient.client import TusClient

from tests.conftest import bearer
from tests.e2e.conftest import start_up, wait_until

pytestmark = pytest.mark.e2e


@pytest.fixture
def running_platform(tmp_path: Path):
    with start_up(tmp_path, STREAMSTACK_ENCODER="none") as up:
        yield up
    assert up.returncode == 0, up.log_tail()


def test_up_key_upload_resume_and_encode_event_consumed(running_platform, clip):
    api = running_platform.api
    output = running_platform.log.read_text()
    assert "First run: admin API key" in output and api in output

    key = running_platform.cli("keys", "create", "--name", "e2e").strip()
    assert key.startswith("ssk_") and "\n" not in key
    headers = bearer(key)

    upload = httpx.post(f"{api}/v1/uploads", json={}, headers=headers).json()
    size = clip.stat().st_size
    TusClient(upload["url"]).uploader(str(clip), chunk_size=8192).upload(stop_at=size // 3)
    resumed = TusClient(upload["url"]).uploader(str(clip), url=upload["url"], chunk_size=8192)
    assert 0 < resumed.offset < size
    resumed.upload()

    def asset():
        return httpx.get(f"{api}/v1/assets/{upload['asset_id']}", headers=headers).json()

    assert asset()["status"] in ("preparing", "errored")
    finished = wait_until(lambda: asset() if asset()["status"] == "errored" else None, 30,
                          "the worker to consume the encode event")
    assert finished["errors"] == ["no encoder configured"]
