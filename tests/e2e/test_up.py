"""`streamstack up` as a user runs it: start, create a key, upload with tus (interrupted, resumed), see it consumed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest
from tusclient.client import TusClient

from tests.conftest import free_port

pytestmark = pytest.mark.e2e


def wait_until(predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def running_platform(tmp_path: Path):
    env = {**os.environ, "STREAMSTACK_DATA_DIR": str(tmp_path / "data"), "STREAMSTACK_API_PORT": str(free_port()),
           "STREAMSTACK_EDGE_PORT": str(free_port()), "STREAMSTACK_ENCODER": "none"}
    log = (tmp_path / "up.log").open("wb")
    process = subprocess.Popen([sys.executable, "-m", "streamstack", "up"], env=env, stdout=log,
                               stderr=subprocess.STDOUT, start_new_session=True)
    api = f"http://127.0.0.1:{env['STREAMSTACK_API_PORT']}"

    def ready() -> bool:
        try:
            return httpx.get(f"{api}/readyz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(ready, 120, "the API to become ready")
        yield api, env, tmp_path / "up.log"
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=45)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
        log.close()
    assert process.returncode == 0, (tmp_path / "up.log").read_text()[-2000:]


def test_up_key_upload_resume_and_encode_event_consumed(running_platform, tmp_path):
    api, env, log_path = running_platform
    output = log_path.read_text()
    assert "First run: admin API key" in output and api in output

    key = subprocess.run([sys.executable, "-m", "streamstack", "keys", "create", "--name", "e2e"], env=env,
                         capture_output=True, text=True, check=True).stdout.strip()
    assert key.startswith("ssk_") and "\n" not in key
    headers = {"Authorization": f"Bearer {key}"}

    clip = tmp_path / "clip.mp4"
    subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-v", "error", "-f", "lavfi", "-i",
                    "testsrc2=size=320x180:rate=25:duration=2", "-c:v", "libx264", "-preset", "ultrafast",
                    str(clip)], check=True)
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
