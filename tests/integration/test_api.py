"""The REST API as a client sees it: auth, problem+json errors, idempotent creates, assets, health."""

from __future__ import annotations

import json

import httpx
import pytest
from fastapi.testclient import TestClient

from streamstack.api import create_app
from streamstack.settings import Settings
from tests.conftest import bearer, new_api_key


@pytest.fixture
def settings(catalog_settings: Settings) -> Settings:
    """The API layer (auth, keys, idempotency, pagination) runs on SQLite and on PostgreSQL."""
    return catalog_settings


def test_requests_without_a_key_get_401_problem(client):
    response = client.get("/v1/assets")
    assert response.status_code == 401
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["status"] == 401
    assert client.get("/v1/assets", headers=bearer("ssk_wrong")).status_code == 401


def test_a_read_only_key_cannot_create(client, platform):
    reader = new_api_key(platform, "read", name="reader")
    assert client.get("/v1/assets", headers=bearer(reader)).status_code == 200
    response = client.post("/v1/uploads", json={}, headers=bearer(reader))
    assert response.status_code == 403
    assert "write" in response.json()["detail"]


def test_keys_are_stored_hashed(platform, admin_key):
    from streamstack.keys.models import ApiKey

    with platform.sessions() as db:
        stored = [k.secret_hash for k in db.query(ApiKey)]
    assert admin_key not in stored and all(len(h) == 64 for h in stored)


def test_upload_creation_returns_tus_url_and_waiting_asset(client, admin_key):
    body = {"new_asset_settings": {"playback_policy": ["signed"], "mp4_support": "standard", "passthrough": "p1"}}
    response = client.post("/v1/uploads", json=body, headers=bearer(admin_key))
    assert response.status_code == 201, response.text
    upload = response.json()
    assert upload["url"].endswith(f"/tus/{upload['id']}")
    asset = client.get(f"/v1/assets/{upload['asset_id']}", headers=bearer(admin_key)).json()
    assert asset["status"] == "waiting"
    assert asset["mp4_support"] == "standard" and asset["passthrough"] == "p1"
    assert [p["policy"] for p in asset["playback_ids"]] == ["signed"]
    assert asset["playback_ids"][0]["url"].endswith(f"/{asset['playback_ids'][0]['id']}.m3u8")


def test_idempotency_key_replays_the_first_response(client, admin_key):
    headers = {**bearer(admin_key), "Idempotency-Key": "abc-1"}
    first = client.post("/v1/uploads", json={}, headers=headers)
    second = client.post("/v1/uploads", json={}, headers=headers)
    assert first.status_code == second.status_code == 201
    assert first.json() == second.json()
    assert second.headers.get("idempotent-replayed") == "true"
    listed = client.get("/v1/assets", headers=bearer(admin_key)).json()["data"]
    assert len(listed) == 1
    other = client.post("/v1/uploads", json={"new_asset_settings": {"mp4_support": "standard"}}, headers=headers)
    assert other.status_code == 422


def test_malformed_json_is_a_422_problem(client, admin_key):
    response = client.post("/v1/uploads", content=b"{not json", headers={**bearer(admin_key),
                                                                           "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    bad_policy = client.post("/v1/uploads", json={"new_asset_settings": {"playback_policy": ["secret"]}},
                             headers=bearer(admin_key))
    assert bad_policy.status_code == 422
    assert "playback_policy" in bad_policy.json()["detail"]


def test_unknown_ids_are_404(client, admin_key):
    for path in ("/v1/assets/as_nope", "/v1/uploads/up_nope"):
        response = client.get(path, headers=bearer(admin_key))
        assert response.status_code == 404
        assert "does not exist" in response.json()["detail"]
    assert client.delete("/v1/assets/as_nope", headers=bearer(admin_key)).status_code == 404


def test_imports_and_webhooks_refuse_private_addresses_by_default(platform, admin_key, tmp_path):
    from streamstack.platform import build_platform
    from tests.conftest import make_settings

    strict = build_platform(make_settings(tmp_path / "strict", outbound_allow_cidrs=[]))
    key = new_api_key(strict, "write")
    with TestClient(create_app(strict)) as strict_client:
        for url in ("http://127.0.0.1/x.mp4", "http://169.254.169.254/latest/meta-data", "http://10.0.0.1/a",
                    "file:///etc/passwd", "ftp://example.com/a"):
            response = strict_client.post("/v1/assets", json={"input": url}, headers=bearer(key))
            assert response.status_code == 422, url
            assert response.headers["content-type"] == "application/problem+json"
        hook = strict_client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/hook", "event_types": ["*"]},
                                  headers=bearer(key))
        assert hook.status_code == 422 and "non-public" in hook.json()["detail"]
    strict.close()


def test_import_from_allowed_loopback_is_queued(client, admin_key, platform):
    response = client.post("/v1/assets", json={"input": "http://127.0.0.1:9/clip.mp4"}, headers=bearer(admin_key))
    assert response.status_code == 201, response.text
    messages = platform.encode_queue.receive(max_messages=10)
    bodies = [json.loads(m.body) for m in messages]
    assert {"type": "streamstack:asset.import", "asset_id": response.json()["id"],
            "url": "http://127.0.0.1:9/clip.mp4"} in bodies


def test_list_paginates_with_cursor_and_filters(client, admin_key):
    ids = [client.post("/v1/uploads", json={}, headers=bearer(admin_key)).json()["asset_id"] for _ in range(5)]
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get("/v1/assets", params=params, headers=bearer(admin_key)).json()
        seen += [a["id"] for a in page["data"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == sorted(ids, reverse=True)
    assert client.get("/v1/assets", params={"status": "ready"}, headers=bearer(admin_key)).json()["data"] == []
    assert client.get("/v1/assets", params={"cursor": "%%%"}, headers=bearer(admin_key)).status_code == 400


def test_delete_removes_asset_and_its_objects(client, admin_key, platform):
    asset_id = client.post("/v1/uploads", json={}, headers=bearer(admin_key)).json()["asset_id"]
    platform.store.put(f"assets/{asset_id}/master.m3u8", [b"#EXTM3U"])
    platform.store.put(f"assets/{asset_id}/720p/seg1.m4s", [b"x"])
    assert client.delete(f"/v1/assets/{asset_id}", headers=bearer(admin_key)).status_code == 204
    assert list(platform.store.list(f"assets/{asset_id}/")) == []
    assert client.get(f"/v1/assets/{asset_id}", headers=bearer(admin_key)).status_code == 404


def test_health_and_readiness(client, platform):
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["checks"] == {"catalog": "ok", "store": "ok", "queue": "ok"}


def test_readiness_fails_when_the_store_is_gone(client, platform):
    import shutil

    shutil.rmtree(platform.settings.objects_dir)
    response = client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"]["store"] == "unavailable"


SERVED = {
    ("post", "/v1/uploads"), ("get", "/v1/uploads/{upload_id}"), ("post", "/v1/uploads/{upload_id}/parts"),
    ("post", "/v1/uploads/{upload_id}/complete"), ("get", "/v1/assets"), ("post", "/v1/assets"),
    ("get", "/v1/assets/{asset_id}"), ("patch", "/v1/assets/{asset_id}"), ("delete", "/v1/assets/{asset_id}"),
    ("post", "/v1/playback-ids/{playback_id}/tokens"), ("get", "/v1/webhooks"), ("post", "/v1/webhooks"),
    ("get", "/v1/webhooks/{webhook_id}"), ("delete", "/v1/webhooks/{webhook_id}"),
    ("get", "/v1/webhooks/{webhook_id}/deliveries"), ("get", "/healthz"), ("get", "/readyz"),
}


def test_every_public_route_is_served_and_published(client):
    """create_app is the one place routers are mounted: a router left out fails here, not in production."""
    spec = client.get("/openapi.json").json()
    published = {(method, path) for path, operations in spec["paths"].items() for method in operations}
    assert sorted(SERVED - published) == []


def test_catalog_failure_mid_request_is_503_and_writes_nothing(client, admin_key, platform):
    """The asset row is already written when the upload's INSERT fails: the whole create rolls back."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    from streamstack.assets.models import Asset
    from streamstack.uploads.models import Upload
    from streamstack.webhooks.models import OutboxEvent

    statements: list[str] = []

    def fail_on_the_upload_insert(_conn, _cursor, statement, _params, _context, _many):  # type: ignore[no-untyped-def]
        statements.append(statement.split("(")[0].strip())
        if statement.startswith("INSERT INTO uploads"):
            raise OperationalError(statement, {}, Exception("server closed the connection unexpectedly"))

    event.listen(platform.engine, "before_cursor_execute", fail_on_the_upload_insert)
    try:
        response = client.post("/v1/uploads", json={}, headers=bearer(admin_key))
    finally:
        event.remove(platform.engine, "before_cursor_execute", fail_on_the_upload_insert)
    assert "INSERT INTO assets" in statements  # the failure came after a write, not before any
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    with platform.sessions() as db:
        assert [db.query(model).count() for model in (Asset, Upload, OutboxEvent)] == [0, 0, 0]
    assert client.post("/v1/uploads", json={}, headers=bearer(admin_key)).status_code == 201


def test_http_client_sees_request_ids(client):
    response = client.get("/healthz", headers={"X-Request-Id": "req-123"})
    assert response.headers["x-request-id"] == "req-123"
    assert httpx.Headers(client.get("/healthz").headers).get("x-request-id")
