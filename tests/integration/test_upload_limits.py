"""The upload size limit holds at creation, at every PATCH and for deferred lengths; nothing past it is stored."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from streamstack.assets.models import Asset
from streamstack.platform import Platform, build_platform
from streamstack.uploads.models import Upload
from tests.conftest import bearer, make_settings, new_api_key

LIMIT = 1000
TUS = {"Tus-Resumable": "1.0.0"}
PATCH = {**TUS, "Content-Type": "application/offset+octet-stream"}


def open_api(platform: Platform) -> tuple[TestClient, dict[str, str]]:
    from streamstack.api import create_app

    return TestClient(create_app(platform)), bearer(new_api_key(platform, name="limits"))


@pytest.fixture
def small(tmp_path) -> Iterator[Platform]:  # type: ignore[no-untyped-def]
    platform = build_platform(make_settings(tmp_path / "data", max_upload_bytes=LIMIT))
    yield platform
    platform.close()


@pytest.fixture
def api(small: Platform) -> Iterator[tuple[TestClient, dict[str, str]]]:
    client, auth = open_api(small)
    with client:
        yield client, auth


def catalog_counts(platform: Platform) -> tuple[int, int]:
    with platform.sessions() as db_session:
        return (db_session.scalar(select(func.count()).select_from(Upload)) or 0,
                db_session.scalar(select(func.count()).select_from(Asset)) or 0)


def staged_bytes(platform: Platform) -> int:
    uploads = platform.settings.uploads_dir
    return sum(path.stat().st_size for path in uploads.glob("*.part")) if uploads.exists() else 0


@pytest.mark.parametrize("size", [LIMIT + 1, 99_999_999_999_999, 2**63 - 1])
def test_post_uploads_over_the_limit_is_413_and_creates_nothing(api, small, size):
    client, auth = api
    response = client.post("/v1/uploads", json={"size": size}, headers=auth)
    assert response.status_code == 413, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert f"maximum of {LIMIT} bytes" in response.json()["detail"]
    assert catalog_counts(small) == (0, 0)


@pytest.mark.parametrize("size", [2**63, 2**64, 10**30, -1])
def test_a_size_no_catalog_can_hold_is_422_not_500(api, small, size):
    client, auth = api
    response = client.post("/v1/uploads", json={"size": size}, headers=auth)
    assert response.status_code == 422, response.text
    assert catalog_counts(small) == (0, 0)


def test_a_size_at_the_limit_is_accepted(api):
    client, auth = api
    assert client.post("/v1/uploads", json={"size": LIMIT}, headers=auth).status_code == 201


def test_a_deferred_length_over_the_limit_is_refused_at_the_patch_and_nothing_is_stored(api, small):
    client, auth = api
    created = client.post("/tus", headers={**TUS, **auth, "Upload-Defer-Length": "1"})
    assert created.status_code == 201
    url = created.headers["location"]
    response = client.patch(url, content=b"x" * 10, headers={**PATCH, "Upload-Offset": "0",
                                                              "Upload-Length": str(LIMIT + 1)})
    assert response.status_code == 413
    assert client.head(url, headers=TUS).headers["upload-offset"] == "0"
    assert staged_bytes(small) == 0
    declared = client.post(url, headers={**TUS, "Upload-Length": str(10 * LIMIT)})
    assert declared.status_code == 413
    assert "upload-length" not in client.head(url, headers=TUS).headers


def test_every_patch_checks_the_limit_even_when_it_dropped_after_creation(tmp_path, small):
    client, auth = open_api(small)
    with client:
        created = client.post("/v1/uploads", json={"size": 900}, headers=auth).json()
        first = client.patch(created["url"], content=b"a" * 100, headers={**PATCH, "Upload-Offset": "0"})
        assert first.status_code == 204
    lowered = build_platform(small.settings.model_copy(update={"max_upload_bytes": 500}))
    client, _ = open_api(lowered)
    with client:
        refused = client.patch(created["url"], content=b"b" * 400, headers={**PATCH, "Upload-Offset": "100"})
        assert refused.status_code == 413, refused.text
        assert "maximum of 500 bytes" in refused.json()["detail"]
        assert client.head(created["url"], headers=TUS).headers["upload-offset"] == "100"
    assert staged_bytes(small) == 100
    assert list(small.store.list("sources/")) == []
    lowered.close()
