"""Direct uploads in the aws shape: presigned S3 multipart parts, and tus backed by S3 multipart."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from streamstack.cli.upload import put_parts
from streamstack.platform import Platform
from streamstack.storage.base import ObjectNotFound
from streamstack.storage.s3 import PART_SIZE
from tests.conftest import LiveServer, bearer, new_api_key
from tests.integration.aws.conftest import read_asset

MIB = 1 << 20


@pytest.fixture
def api(aws_platform: Platform):  # type: ignore[no-untyped-def]
    from streamstack.api import create_app

    key = new_api_key(aws_platform)
    with LiveServer(create_app(aws_platform), aws_platform.settings.api_port) as server, httpx.Client(
            base_url=server.url, headers=bearer(key), timeout=60) as client:
        yield client


@pytest.fixture
def source_file(tmp_path: Path) -> Path:
    path = tmp_path / "source.bin"
    path.write_bytes(os.urandom(11 * MIB))
    return path


def test_post_uploads_returns_presigned_parts_that_reach_s3(api: httpx.Client, aws_platform: Platform,
                                                            source_file: Path):
    created = api.post("/v1/uploads", json={"size": source_file.stat().st_size}).json()
    session = created["multipart"]
    assert session["part_size"] == PART_SIZE and [p["part_number"] for p in session["parts"]] == [1, 2]
    assert created["url"].endswith(f"/tus/{created['id']}")  # tus still offered
    put_parts(api, session, source_file)
    source = f"sources/{created['asset_id']}"
    assert b"".join(aws_platform.store.get(source)) == source_file.read_bytes()
    assert read_asset(aws_platform.settings, created["asset_id"])["status"] == "preparing"
    assert api.post(session["complete_url"]).status_code == 409  # already complete


def test_parts_can_be_asked_for_later_when_the_size_was_not_given(api: httpx.Client, aws_platform: Platform,
                                                                  tmp_path: Path):
    small = tmp_path / "small.bin"
    small.write_bytes(b"tiny source")
    created = api.post("/v1/uploads", json={}).json()
    assert created["multipart"]["parts"] == []
    put_parts(api, created["multipart"], small)
    assert b"".join(aws_platform.store.get(f"sources/{created['asset_id']}")) == b"tiny source"


def test_tus_chunks_of_any_size_become_s3_parts(api: httpx.Client, aws_platform: Platform, source_file: Path):
    from tusclient.client import TusClient

    created = api.post("/v1/uploads", json={}).json()
    uploader = TusClient(created["url"], headers=dict(api.headers)).uploader(str(source_file), chunk_size=3 * MIB)
    uploader.set_url(uploader.create_url())
    while uploader.offset < source_file.stat().st_size:
        uploader.upload_chunk()
    source = f"sources/{created['asset_id']}"
    assert b"".join(aws_platform.store.get(source)) == source_file.read_bytes()
    assert aws_platform.store.head(source).etag.endswith("-2")  # 8 MiB + 3 MiB parts
    assert list(aws_platform.store.list("uploads/")) == []  # the staged tail is gone
    assert read_asset(aws_platform.settings, created["asset_id"])["status"] == "preparing"


def test_a_tus_patch_with_a_bad_checksum_changes_nothing(api: httpx.Client, aws_platform: Platform):
    created = api.post("/v1/uploads", json={"size": 10}).json()
    headers = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    wrong = "sha1 AAAAAAAAAAAAAAAAAAAAAAAAAAA="
    bad = api.patch(created["url"], content=b"01234", headers={**headers, "Upload-Checksum": wrong})
    assert bad.status_code == 460
    good = api.patch(created["url"], content=b"01234", headers=headers)
    assert good.headers["Upload-Offset"] == "5"
    assert api.head(created["url"], headers={"Tus-Resumable": "1.0.0"}).headers["Upload-Offset"] == "5"
    done = api.patch(created["url"], content=b"56789", headers={**headers, "Upload-Offset": "5"})
    assert done.status_code == 204
    assert b"".join(aws_platform.store.get(f"sources/{created['asset_id']}")) == b"0123456789"


def test_tus_termination_aborts_the_multipart_upload(api: httpx.Client, aws_platform: Platform):
    created = api.post("/v1/uploads", json={"size": 10}).json()
    headers = {"Tus-Resumable": "1.0.0", "Content-Type": "application/offset+octet-stream", "Upload-Offset": "0"}
    api.patch(created["url"], content=b"01234", headers=headers)
    assert api.delete(created["url"], headers={"Tus-Resumable": "1.0.0"}).status_code == 204
    source = f"sources/{created['asset_id']}"
    assert aws_platform.store.find_multipart(source) is None
    with pytest.raises(ObjectNotFound):
        aws_platform.store.head(source)
    assert list(aws_platform.store.list("uploads/")) == []


def test_presigned_parts_past_the_limit_are_refused_and_an_oversized_upload_stores_nothing(tmp_path: Path,
                                                                                          moto_endpoint: str):
    from streamstack.api import create_app
    from streamstack.platform import build_platform
    from tests.integration.aws.conftest import aws_settings, create_aws_resources

    settings = aws_settings(tmp_path / "data", moto_endpoint, max_upload_bytes=MIB)
    create_aws_resources(settings)
    platform = build_platform(settings)
    with LiveServer(create_app(platform), settings.api_port) as server, httpx.Client(
            base_url=server.url, headers=bearer(new_api_key(platform)), timeout=60) as api:
        assert api.post("/v1/uploads", json={"size": 2 * MIB}).status_code == 413
        created = api.post("/v1/uploads", json={}).json()
        session = created["multipart"]
        assert api.post(session["parts_url"], json={"part_numbers": [2]}).status_code == 413
        [part] = api.post(session["parts_url"], json={"part_numbers": [1]}).json()
        assert httpx.put(part["url"], content=os.urandom(MIB + 1)).status_code == 200  # S3 cannot bound a part
        refused = api.post(session["complete_url"])
        assert refused.status_code == 413 and "discarded" in refused.json()["detail"]
        source = f"sources/{created['asset_id']}"
        with pytest.raises(ObjectNotFound):
            platform.store.head(source)
        assert platform.store.find_multipart(source) is None
        assert read_asset(settings, created["asset_id"])["status"] == "waiting"
    platform.close()
