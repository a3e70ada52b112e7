"""POST/GET/DELETE /v1/webhooks and the delivery log, through the real app and headers."""

from __future__ import annotations

import base64

import pytest
from sqlalchemy import func, select

from streamstack.settings import Settings
from streamstack.webhooks.dispatcher import fan_out
from streamstack.webhooks.models import WebhookDelivery
from streamstack.webhooks.outbox import record_event
from tests.conftest import bearer, new_api_key


@pytest.fixture
def settings(catalog_settings: Settings) -> Settings:
    """The API layer (headers, keys, idempotency, pagination) runs on SQLite and on PostgreSQL."""
    return catalog_settings


def test_create_returns_a_generated_standard_webhooks_secret_once(client, headers):
    created = client.post("/v1/webhooks", json={"url": "https://example.com/hooks",
                                                "event_types": ["video.asset.ready"]}, headers=headers)
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("wh_") and body["url"] == "https://example.com/hooks"
    assert body["secret"].startswith("whsec_") and len(base64.b64decode(body["secret"][6:])) == 24
    shown = client.get(f"/v1/webhooks/{body['id']}", headers=headers)
    assert shown.status_code == 200 and "secret" not in shown.json()
    assert [w["id"] for w in client.get("/v1/webhooks", headers=headers).json()["data"]] == [body["id"]]


def test_a_supplied_secret_is_kept_and_a_malformed_one_refused(client, headers):
    secret = "whsec_" + base64.b64encode(b"k" * 32).decode()
    kept = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "event_types": ["*"],
                                             "secret": secret}, headers=headers)
    assert kept.status_code == 201 and kept.json()["secret"] == secret
    refused = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "event_types": ["*"],
                                                "secret": "hunter2"}, headers=headers)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert "whsec_" in refused.json()["detail"]


@pytest.mark.parametrize("body, fragment", [
    ({"url": "ftp://example.com/x", "event_types": ["*"]}, "url"),
    ({"url": "https://example.com/x", "event_types": []}, "event_types"),
    ({"url": "https://example.com/x", "event_types": ["video.asset.redy"]}, "video.asset.redy"),
])
def test_invalid_requests_are_422_with_a_precise_reason(client, headers, body, fragment):
    response = client.post("/v1/webhooks", json=body, headers=headers)
    assert response.status_code == 422 and fragment in response.json()["detail"]


def test_scopes_are_enforced(client, platform):
    headers = bearer(new_api_key(platform, "read", name="reader"))
    assert client.get("/v1/webhooks", headers=headers).status_code == 200
    assert client.post("/v1/webhooks", json={"url": "https://e.com", "event_types": ["*"]},
                       headers=headers).status_code == 403
    assert client.get("/v1/webhooks").status_code == 401


def test_delete_removes_the_endpoint_and_its_log(client, headers, platform):
    webhook_id = client.post("/v1/webhooks", json={"url": "https://e.com/h", "event_types": ["*"]},
                             headers=headers).json()["id"]
    with platform.sessions() as db_session:
        record_event(db_session=db_session, type="video.asset.ready", object_type="asset", object_id="as_1", data={})
        db_session.commit()
    fan_out(platform)
    assert len(client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=headers).json()["data"]) == 1
    assert client.delete(f"/v1/webhooks/{webhook_id}", headers=headers).status_code == 204
    assert client.get(f"/v1/webhooks/{webhook_id}", headers=headers).status_code == 404
    assert client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=headers).status_code == 404
    assert client.delete(f"/v1/webhooks/{webhook_id}", headers=headers).status_code == 404
    with platform.sessions() as db_session:
        assert db_session.scalar(select(func.count()).select_from(WebhookDelivery)) == 0


def test_delivery_log_pages_with_a_cursor(client, headers, platform):
    webhook_id = client.post("/v1/webhooks", json={"url": "https://e.com/h", "event_types": ["*"]},
                             headers=headers).json()["id"]
    with platform.sessions() as db_session:
        for n in range(5):
            record_event(db_session=db_session, type="video.asset.ready", object_type="asset", object_id=f"as_{n}",
                         data={})
        db_session.commit()
    fan_out(platform)
    seen, cursor = [], None
    while True:
        page = client.get(f"/v1/webhooks/{webhook_id}/deliveries", params={"limit": 2, "cursor": cursor},
                          headers=headers).json()
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 5 and len({d["id"] for d in seen}) == 5
    assert all(d["status"] == "pending" and d["attempts"] == 0 and d["event_type"] == "video.asset.ready"
               for d in seen)
    assert client.get(f"/v1/webhooks/{webhook_id}/deliveries", params={"cursor": "%%%"},
                      headers=headers).status_code == 400


def test_a_private_webhook_target_is_refused_in_webhook_words(client, headers, platform):
    platform.settings = platform.settings.model_copy(update={"outbound_allow_cidrs": []})
    refused = client.post("/v1/webhooks", json={"url": "http://10.1.2.3/hooks", "event_types": ["*"]}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["detail"] == ("webhook URL resolves to a non-public address (10.1.2.3); webhooks to "
                                        "private, loopback and link-local networks are refused")
    scheme = client.post("/v1/webhooks", json={"url": "ftp://example.com/hooks", "event_types": ["*"]}, headers=headers)
    assert scheme.status_code == 422 and "import" not in scheme.json()["detail"]
