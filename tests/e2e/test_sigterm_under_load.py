"""SIGTERM (a deploy, a scale-in, Ctrl-C) while serving: the API, the edge and the worker each finish or hand
back what they hold. 0 failed in-flight requests, 0 lost messages."""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import threading
from pathlib import Path

import httpx
import pytest
from tusclient.client import TusClient

from streamstack.assets.models import Asset, PlaybackId
from streamstack.platform import Platform
from streamstack.settings import Settings
from streamstack.storage.keys import source_key
from tests.conftest import bearer, make_clip, wait_until
from tests.e2e.chaos import (
    CatalogObserver,
    admin_key,
    process_env,
    start,
    stop,
    uploaded_assets,
)
from tests.e2e.conftest import answers

pytestmark = pytest.mark.e2e

IN_FLIGHT = 6


def test_api_sigterm_finishes_every_upload_in_flight_and_enqueues_every_encode(
    tmp_path: Path, small_settings: Settings, small_platform: Platform
) -> None:
    chunk = 256 * 1024
    payloads = [os.urandom(2 * chunk) for _ in range(IN_FLIGHT)]
    api_url = f"http://127.0.0.1:{small_settings.api_port}"
    headers = bearer(admin_key(small_platform))
    api = start("api", process_env(small_settings, tmp_path / "tmp"), tmp_path / "api.log")
    try:
        wait_until(lambda: answers(f"{api_url}/readyz"), 60, "the API")
        uploads = []
        for index, payload in enumerate(payloads):
            (tmp_path / f"{index}.bin").write_bytes(payload)
            upload = httpx.post(f"{api_url}/v1/uploads", headers=headers, json={"size": len(payload)}).json()
            TusClient(upload["url"]).uploader(str(tmp_path / f"{index}.bin"), url=upload["url"],
                                              chunk_size=chunk).upload(stop_at=chunk)
            uploads.append(upload)
        connections = []
        for upload, payload in zip(uploads, payloads, strict=True):  # the last chunk of each, half sent
            conn = socket.create_connection(("127.0.0.1", small_settings.api_port), timeout=30)
            path = upload["url"].split(str(small_settings.api_port), 1)[1]
            conn.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                          f"Upload-Offset: {chunk}\r\nContent-Type: application/offset+octet-stream\r\n"
                          f"Content-Length: {chunk}\r\n\r\n").encode() + payload[chunk:chunk + chunk // 2])
            connections.append(conn)
        for upload in uploads:
            part = small_settings.uploads_dir / f"{upload['id']}.part"
            wait_until(lambda p=part: p.stat().st_size > chunk, 30, "every PATCH to be half-way")
        api.send_signal(signal.SIGTERM)
        responses = []
        for conn, payload in zip(connections, payloads, strict=True):
            conn.sendall(payload[chunk + chunk // 2:])
            responses.append(conn.recv(4096).decode())
            conn.close()
        assert api.wait(timeout=40) in (0, -signal.SIGTERM)
    finally:
        stop(api)
    assert [r.split("\r\n", 1)[0] for r in responses] == ["HTTP/1.1 204 No Content"] * IN_FLIGHT, responses
    assert all(f"upload-offset: {2 * chunk}" in r.lower() for r in responses)
    for upload, payload in zip(uploads, payloads, strict=True):
        stored = b"".join(small_platform.store.get(source_key(upload["asset_id"])))
        assert hashlib.sha256(stored).digest() == hashlib.sha256(payload).digest()
    messages = small_platform.encode_queue.receive(max_messages=10, wait_seconds=1)
    assert sorted(a for a in (u["asset_id"] for u in uploads) if any(a in m.body for m in messages)) == sorted(
        u["asset_id"] for u in uploads)  # one encode message per completed upload: none lost


def test_edge_sigterm_finishes_every_download_in_flight(tmp_path: Path, small_settings: Settings,
                                                        small_platform: Platform) -> None:
    segment = os.urandom(24 * 1024 * 1024)  # more than socket buffers hold: the edge is still sending
    small_platform.store.put("assets/as_load/master.m3u8", [b"#EXTM3U\n"])
    small_platform.store.put("assets/as_load/big_00000.m4s", [segment])
    with small_platform.sessions() as db_session:
        db_session.add(Asset(id="as_load", status="ready"))
        db_session.add(PlaybackId(id="pbload", asset_id="as_load", policy="public"))
        db_session.commit()
    edge_url = f"http://127.0.0.1:{small_settings.edge_port}"
    edge = start("edge", process_env(small_settings, tmp_path / "tmp"), tmp_path / "edge.log")
    started = threading.Barrier(IN_FLIGHT + 1)
    resume = threading.Event()
    results: list[bytes | Exception] = []

    def download() -> None:
        try:
            with httpx.stream("GET", f"{edge_url}/pbload/big_00000.m4s", timeout=30) as response:
                chunks = response.iter_raw(64 * 1024)
                body = next(chunks)
                started.wait(30)
                resume.wait(30)  # the server holds a half-sent response while SIGTERM arrives
                body += b"".join(chunks)
                results.append(body if response.status_code == 200 else RuntimeError(response.status_code))
        except Exception as exc:  # noqa: BLE001 - a failed request is the outcome under test
            results.append(exc)

    try:
        wait_until(lambda: answers(f"{edge_url}/healthz"), 60, "the edge")
        threads = [threading.Thread(target=download) for _ in range(IN_FLIGHT)]
        for thread in threads:
            thread.start()
        started.wait(30)
        edge.send_signal(signal.SIGTERM)
        resume.set()
        for thread in threads:
            thread.join(60)
        assert edge.wait(timeout=40) in (0, -signal.SIGTERM)
    finally:
        resume.set()
        stop(edge)
    assert [r if isinstance(r, Exception) else hashlib.sha256(r).hexdigest() for r in results] == [
        hashlib.sha256(segment).hexdigest()] * IN_FLIGHT, (tmp_path / "edge.log").read_text()[-2000:]


def test_worker_sigterm_mid_encode_hands_the_job_back_and_loses_no_message(
    tmp_path: Path, small_settings: Settings, small_platform: Platform
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", size="256x144", seconds=1)
    asset_ids = uploaded_assets(small_platform, clip.read_bytes(), 3)
    env = process_env(small_settings, tmp_path / "tmp")
    with CatalogObserver(small_settings).running() as observer:
        worker = start("worker", env, tmp_path / "worker.log")
        try:
            observer.wait_for(lambda: any(1 in t.attempts for t in observer.timelines.values()), 120,
                              "an encode to start")
            worker.send_signal(signal.SIGTERM)
            assert worker.wait(timeout=40) in (0, 128 + signal.SIGTERM)  # 143: mid-job, its message given back
            worker = start("worker", env, tmp_path / "worker.log")
            observer.wait_for(lambda: observer.ready_count() == len(asset_ids), 240, "every asset to be ready")
        finally:
            assert stop(worker) in (0, 128 + signal.SIGTERM)
    assert small_platform.encode_queue.stats().visible == 0 and small_platform.encode_queue.stats().in_flight == 0
    assert small_platform.encode_queue.dlq_stats().visible == 0 and small_platform.events_queue.dlq_stats().visible == 0
    assert list((tmp_path / "tmp").iterdir()) == []
