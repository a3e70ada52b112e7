"""tus 1.0 uploads with a real tus client (tuspy): chunks, resume, limits, checksums, termination."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
import time
from urllib.parse import urlsplit

import httpx
from tusclient.client import TusClient

from tests.conftest import bearer, new_api_key

TUS = {"Tus-Resumable": "1.0.0"}


def new_upload(server, key: str) -> dict:
    response = httpx.post(f"{server.url}/v1/uploads", json={}, headers=bearer(key))
    assert response.status_code == 201, response.text
    return response.json()


def asset_status(server, key: str, asset_id: str) -> dict:
    return httpx.get(f"{server.url}/v1/assets/{asset_id}", headers=bearer(key)).json()


def test_chunked_upload_interrupted_and_resumed_stores_the_source(live_api, admin_key, platform, clip):
    upload = new_upload(live_api, admin_key)
    size = clip.stat().st_size
    first = TusClient(upload["url"]).uploader(str(clip), chunk_size=4096)
    first.upload(stop_at=size // 2)  # the client goes away half-way
    acknowledged = first.offset
    assert 0 < acknowledged < size
    assert asset_status(live_api, admin_key, upload["asset_id"])["status"] == "waiting"

    resumed = TusClient(upload["url"]).uploader(str(clip), url=upload["url"], chunk_size=4096)
    assert resumed.offset == acknowledged
    resumed.upload()

    asset = asset_status(live_api, admin_key, upload["asset_id"])
    assert asset["status"] == "preparing"
    stored = b"".join(platform.store.get(f"sources/{upload['asset_id']}"))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(clip.read_bytes()).digest()
    events = [json.loads(m.body) for m in platform.encode_queue.receive(max_messages=10)]
    keys = [r["s3"]["object"]["key"] for e in events for r in e["Records"]]
    assert keys == [f"sources/{upload['asset_id']}"]


def test_upload_larger_than_the_limit_is_413_before_any_byte(tmp_path, clip):
    from streamstack.api import create_app
    from streamstack.platform import build_platform
    from tests.conftest import LiveServer, make_settings

    small = build_platform(make_settings(tmp_path / "d", max_upload_bytes=1000))
    key = new_api_key(small, "write")
    with LiveServer(create_app(small), small.settings.api_port) as server:
        upload = new_upload(server, key)
        response = httpx.post(upload["url"], headers={**TUS, "Upload-Length": str(clip.stat().st_size)})
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"
        created = httpx.post(f"{server.url}/tus", headers={**TUS, "Upload-Length": "5000", **bearer(key)})
        assert created.status_code == 413
    assert not any(small.settings.uploads_dir.glob("*.part")) if small.settings.uploads_dir.exists() else True
    small.close()


def test_offset_mismatch_is_409(live_api, admin_key):
    upload = new_upload(live_api, admin_key)
    httpx.post(upload["url"], headers={**TUS, "Upload-Length": "10"})
    response = httpx.patch(upload["url"], content=b"abc", headers={
        **TUS, "Upload-Offset": "5", "Content-Type": "application/offset+octet-stream"})
    assert response.status_code == 409
    assert httpx.head(upload["url"], headers=TUS).headers["upload-offset"] == "0"


def test_checksum_extension(live_api, admin_key):
    upload = new_upload(live_api, admin_key)
    httpx.post(upload["url"], headers={**TUS, "Upload-Length": "6"})
    patch = {**TUS, "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    wrong = base64.b64encode(hashlib.sha1(b"other").digest()).decode()
    response = httpx.patch(upload["url"], content=b"abc", headers={**patch, "Upload-Checksum": f"sha1 {wrong}"})
    assert response.status_code == 460
    assert httpx.head(upload["url"], headers=TUS).headers["upload-offset"] == "0"
    right = base64.b64encode(hashlib.sha1(b"abc").digest()).decode()
    response = httpx.patch(upload["url"], content=b"abc", headers={**patch, "Upload-Checksum": f"sha1 {right}"})
    assert response.status_code == 204 and response.headers["upload-offset"] == "3"
    options = httpx.options(upload["url"])
    assert "checksum" in options.headers["tus-extension"] and "sha1" in options.headers["tus-checksum-algorithm"]


def test_termination_removes_the_upload(live_api, admin_key):
    upload = new_upload(live_api, admin_key)
    httpx.post(upload["url"], headers={**TUS, "Upload-Length": "10"})
    assert httpx.delete(upload["url"], headers=TUS).status_code == 204
    assert httpx.head(upload["url"], headers=TUS).status_code == 404
    assert asset_status(live_api, admin_key, upload["asset_id"])["status"] == 404


def test_a_dropped_connection_keeps_the_bytes_that_arrived(live_api, admin_key):
    upload = new_upload(live_api, admin_key)
    httpx.post(upload["url"], headers={**TUS, "Upload-Length": "100000"})
    parts = urlsplit(upload["url"])
    with socket.create_connection((parts.hostname, parts.port)) as sock:
        sock.sendall((f"PATCH {parts.path} HTTP/1.1\r\nHost: {parts.netloc}\r\nTus-Resumable: 1.0.0\r\n"
                      "Upload-Offset: 0\r\nContent-Type: application/offset+octet-stream\r\n"
                      "Content-Length: 100000\r\n\r\n").encode() + b"x" * 30000)
        time.sleep(0.5)  # let the bytes arrive before the connection drops
    for _ in range(50):
        offset = int(httpx.head(upload["url"], headers=TUS).headers["upload-offset"])
        if offset:
            break
        time.sleep(0.1)
    assert offset == 30000
    rest = httpx.patch(upload["url"], content=b"y" * 70000, headers={
        **TUS, "Upload-Offset": "30000", "Content-Type": "application/offset+octet-stream"})
    assert rest.status_code == 204 and rest.headers["upload-offset"] == "100000"


def test_generic_tus_creation_endpoint_needs_a_key(live_api, admin_key, clip):
    assert httpx.post(f"{live_api.url}/tus", headers={**TUS, "Upload-Length": "10"}).status_code == 401
    client = TusClient(f"{live_api.url}/tus", headers=bearer(admin_key))
    uploader = client.uploader(str(clip), chunk_size=1 << 20, metadata={"filename": "clip.mp4"})
    uploader.upload()
    assert uploader.offset == clip.stat().st_size


def test_zero_byte_upload_completes_and_is_handed_to_the_encoder(live_api, admin_key, platform, tmp_path):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    upload = new_upload(live_api, admin_key)
    TusClient(upload["url"]).uploader(str(empty)).upload()
    assert asset_status(live_api, admin_key, upload["asset_id"])["status"] == "preparing"


def test_a_store_failure_on_the_last_chunk_is_503_keeps_the_bytes_and_a_retry_completes(
        live_api, admin_key, platform, monkeypatch):
    from streamstack.storage.base import StorageUnavailable

    upload = new_upload(live_api, admin_key)
    httpx.post(upload["url"], headers={**TUS, "Upload-Length": "6"})
    real_put_file = platform.store.put_file

    def store_down(*_args, **_kwargs):
        raise StorageUnavailable("disk unavailable")

    monkeypatch.setattr(platform.store, "put_file", store_down)
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
    response = httpx.patch(upload["url"], content=b"abcdef", headers={**patch, "Upload-Offset": "0"})
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert asset_status(live_api, admin_key, upload["asset_id"])["status"] == "waiting"
    assert list(platform.store.list("sources/")) == []
    assert platform.encode_queue.receive(max_messages=10) == []

    monkeypatch.setattr(platform.store, "put_file", real_put_file)
    retry = httpx.patch(upload["url"], content=b"", headers={**patch, "Upload-Offset": "6"})
    assert retry.status_code == 204
    assert asset_status(live_api, admin_key, upload["asset_id"])["status"] == "preparing"
    assert b"".join(platform.store.get(f"sources/{upload['asset_id']}")) == b"abcdef"


BAD_NUMBERS = ["²", "1³", "٣", "9" * 5000, "1" * 20, "-1", "+1", "1_0", "0x10", "1.0"]


def test_tus_numeric_headers_that_are_not_ascii_digits_are_400_problems(live_api, admin_key):
    auth = bearer(admin_key)
    upload = new_upload(live_api, admin_key)
    patch = {**TUS, "Content-Type": "application/offset+octet-stream"}
    for bad in BAD_NUMBERS:
        value = bad.encode()
        for response in (
            httpx.post(f"{live_api.url}/tus", headers={**TUS, **auth, "Upload-Length": value}),
            httpx.post(upload["url"], headers={**TUS, "Upload-Length": value}),
            httpx.patch(upload["url"], content=b"abc", headers={**patch, "Upload-Offset": value}),
            httpx.patch(upload["url"], content=b"abc", headers={**patch, "Upload-Offset": b"0",
                                                                 "Upload-Length": value}),
        ):
            assert response.status_code == 400, (bad, response.request.url, response.text)
            assert response.headers["content-type"] == "application/problem+json"
            assert "ASCII digits" in response.json()["detail"]
    head = httpx.head(upload["url"], headers=TUS)
    assert head.headers["upload-offset"] == "0" and "upload-length" not in head.headers


def test_upload_metadata_is_bounded_strict_base64_and_unique(live_api, admin_key, platform):
    from sqlalchemy import func, select

    from streamstack.uploads.models import Upload

    auth = {**TUS, **bearer(admin_key), "Upload-Length": "10"}
    name = base64.b64encode(b"clip.mp4").decode()
    for metadata in (f"filename {name}," + ",".join(f"k{i} {'QUFB' * 40}" for i in range(400)),  # ~65 KB
                     "filename aGVsbG8=!!", "filename aGVs bG8=", f"filename {name},filename {name}",
                     f"file\u00e9name {name}"):
        response = httpx.post(f"{live_api.url}/tus", headers={**auth, "Upload-Metadata": metadata.encode()})
        assert response.status_code == 400, (metadata[:40], response.text)
        assert response.headers["content-type"] == "application/problem+json"
        assert "Upload-Metadata" in response.json()["detail"]
    with platform.sessions() as db_session:
        assert db_session.scalar(select(func.count()).select_from(Upload)) == 0
    flagged = f"filename {name},is_confidential"
    accepted = httpx.post(f"{live_api.url}/tus", headers={**auth, "Upload-Metadata": flagged})
    assert accepted.status_code == 201
