"""Every timestamp in an API response is RFC 3339 UTC with a `Z`, on SQLite and PostgreSQL, in creates, gets
and lists alike (SQLite once returned naive datetimes that clients read as local time)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from streamstack.assets.models import Asset
from streamstack.db.base import new_id, utcnow
from streamstack.keys.signing import create_signing_key
from streamstack.settings import Settings
from streamstack.webhooks.models import OutboxEvent, WebhookDelivery

RFC3339_UTC = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,6})?Z")


@pytest.fixture
def settings(catalog_settings: Settings) -> Settings:
    return catalog_settings


def timestamps(document: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    """Every (path, value) whose key names a moment (`*_at`) anywhere in a JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key.endswith("_at") and value is not None:
                yield f"{path}.{key}", value
            yield from timestamps(value, f"{path}.{key}")
    elif isinstance(document, list):
        for index, item in enumerate(document):
            yield from timestamps(item, f"{path}[{index}]")


def test_every_timestamp_is_rfc3339_utc_with_z_in_creates_gets_and_lists(client, headers, platform):
    upload = client.post("/v1/uploads", json={}, headers=headers).json()
    imported = client.post("/v1/assets", json={"input": "http://127.0.0.1:9/a.mp4"}, headers=headers).json()
    hook = client.post("/v1/webhooks", json={"url": "http://127.0.0.1:9/h", "event_types": ["video.asset.ready"]},
                       headers=headers).json()
    signed = client.post("/v1/assets", json={"input": "http://127.0.0.1:9/b.mp4", "playback_policy": ["signed"]},
                         headers=headers).json()
    with platform.sessions() as db_session:
        create_signing_key(db_session=db_session)
        asset = db_session.get(Asset, upload["asset_id"])
        asset.status, asset.playable_at, asset.ready_at = "ready", utcnow(), utcnow() + timedelta(seconds=1)
        event = OutboxEvent(id=new_id("ev_"), type="video.asset.ready", object_type="asset", object_id=asset.id)
        db_session.add(event)
        db_session.flush()
        db_session.add(WebhookDelivery(id=new_id("dl_"), endpoint_id=hook["id"], event_id=event.id,
                                       next_attempt_at=utcnow(), delivered_at=utcnow()))
        db_session.commit()
    token = client.post(f"/v1/playback-ids/{signed['playback_ids'][0]['id']}/tokens", json={}, headers=headers)
    assert token.status_code == 201, token.text

    documents = {
        "asset create": imported, "webhook create": hook, "token create": token.json(),
        "asset get": client.get(f"/v1/assets/{upload['asset_id']}", headers=headers).json(),
        "asset list": client.get("/v1/assets", headers=headers).json(),
        "webhook get": client.get(f"/v1/webhooks/{hook['id']}", headers=headers).json(),
        "webhook list": client.get("/v1/webhooks", headers=headers).json(),
        "delivery list": client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=headers).json(),
        "live stream create": client.post("/v1/live-streams", json={}, headers=headers).json(),
        "live stream list": client.get("/v1/live-streams", headers=headers).json(),
    }
    seen = {(name, path): value for name, document in documents.items() for path, value in timestamps(document)}
    for where, value in seen.items():
        assert isinstance(value, str) and RFC3339_UTC.fullmatch(value), (where, value)
    names = {path.rsplit(".", 1)[-1] for _, path in seen}
    assert {"created_at", "ready_at", "playable_at", "expires_at", "next_attempt_at", "delivered_at"} <= names
    assert {name for name, _ in seen} == set(documents)
