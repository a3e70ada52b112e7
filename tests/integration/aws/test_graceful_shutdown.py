"""SIGTERM, as ECS stops tasks: a worker gives its messages back at once, the API drains in-flight requests."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from streamstack.assets.imports import import_message
from streamstack.db.session import upgrade
from streamstack.queue.sqs import SqsQueue
from streamstack.settings import Settings
from tests.conftest import bearer, make_settings, release_port
from tests.integration.aws.conftest import aws_settings, create_aws_resources, new_asset

LONG = 60


class Trickle(BaseHTTPRequestHandler):
    """An import source that never finishes: one byte every 0.2 s."""

    started = threading.Event()

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        Trickle.started.set()
        self.send_response(200)
        self.send_header("Content-Length", str(10**9))
        self.end_headers()
        try:
            for _ in range(3000):
                self.wfile.write(b"x")
                self.wfile.flush()
                time.sleep(0.2)
        except OSError:
            pass

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def trickle_url() -> Iterator[str]:
    Trickle.started.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Trickle)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/source.mp4"
    server.shutdown()


def environment(settings: Settings) -> dict[str, str]:
    """The STREAMSTACK_* variables of a task, from a Settings object."""
    values = {"PROFILE": settings.profile, "DATA_DIR": str(settings.data_dir), "S3_BUCKET": settings.s3_bucket,
              "ENCODE_QUEUE": settings.encode_queue, "EVENTS_QUEUE": settings.events_queue,
              "AUTO_MIGRATE": "false", "API_PORT": str(release_port(settings.api_port)),
              "QUEUE_VISIBILITY_TIMEOUT": str(LONG),
              "OUTBOUND_ALLOW_CIDRS": json.dumps(settings.outbound_allow_cidrs), "METRICS_ENABLED": "false"}
    if settings.aws_endpoint_url:
        values["AWS_ENDPOINT_URL"] = settings.aws_endpoint_url
    return {**os.environ, **{f"STREAMSTACK_{k}": v for k, v in values.items()}}


def start(command: str, settings: Settings) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "streamstack", command], env=environment(settings),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def test_sigterm_gives_a_workers_unfinished_message_back_at_once(tmp_path: Path, moto_endpoint: str,
                                                                 trickle_url: str):
    settings = aws_settings(tmp_path / "data", moto_endpoint, queue_visibility_timeout=LONG)
    create_aws_resources(settings)
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.resolved_database_url)
    asset_id = new_asset(settings)
    queue = SqsQueue.from_settings(settings, settings.encode_queue)
    message_id = queue.send(json.dumps(import_message(asset_id, trickle_url)))
    worker = start("worker", settings)
    try:
        assert Trickle.started.wait(60), "the worker never started the job"
        worker.send_signal(signal.SIGTERM)
        stopped_at = time.monotonic()
        worker.wait(timeout=20)
    finally:
        if worker.poll() is None:
            worker.kill()
    again = queue.receive(wait_seconds=5, visibility_timeout=LONG)
    assert [(m.message_id, m.receive_count) for m in again] == [(message_id, 2)]
    assert time.monotonic() - stopped_at < LONG / 2  # long before the visibility timeout would have expired
    assert worker.returncode == 128 + signal.SIGTERM


def test_sigterm_lets_the_api_finish_an_in_flight_request(tmp_path: Path):
    settings = make_settings(tmp_path / "data")
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.resolved_database_url)
    api = start("api", settings)
    try:
        key = _admin_key(settings)
        upload = _post_json(settings.api_port, "/v1/uploads", {"size": 10}, key)
        path = upload["url"].split(str(settings.api_port), 1)[1]
        with socket.create_connection(("127.0.0.1", settings.api_port), timeout=30) as conn:
            conn.sendall((f"PATCH {path} HTTP/1.1\r\nHost: x\r\nTus-Resumable: 1.0.0\r\nUpload-Offset: 0\r\n"
                          "Content-Type: application/offset+octet-stream\r\nContent-Length: 10\r\n\r\n01234").encode())
            time.sleep(0.5)
            api.send_signal(signal.SIGTERM)  # mid-body: uvicorn stops accepting, waits for this request
            time.sleep(1.0)
            assert api.poll() is None, "the API exited with a request in flight"
            conn.sendall(b"56789")
            response = conn.recv(4096).decode()
        assert response.startswith("HTTP/1.1 204"), response
        assert "upload-offset: 10" in response.lower()
        api.wait(timeout=20)
    finally:
        if api.poll() is None:
            api.kill()
    assert api.returncode in (0, -signal.SIGTERM)  # uvicorn re-raises the signal once it has drained


def _admin_key(settings: Settings) -> str:
    from streamstack.db.session import open_catalog
    from streamstack.keys.service import create_api_key

    engine, sessions = open_catalog(settings)
    with sessions() as db_session:
        secret = create_api_key(db_session=db_session, name="t", scopes=["admin"]).secret
    engine.dispose()
    return secret


def _post_json(port: int, path: str, body: dict[str, object], key: str) -> dict[str, object]:
    """POST once the API answers (the subprocess takes a moment to start)."""
    import httpx

    deadline = time.monotonic() + 30
    while True:
        try:
            response = httpx.post(f"http://127.0.0.1:{port}{path}", json=body,
                                  headers=bearer(key), timeout=10)
            response.raise_for_status()
            return response.json()
        except httpx.TransportError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
