"""Webhook endpoints and their delivery log: create, read, list, delete."""

from __future__ import annotations

import base64
import binascii
import secrets
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.orm import Session

from streamstack.db.base import new_id
from streamstack.db.pagination import decode_cursor, page
from streamstack.webhooks.models import OutboxEvent, WebhookDelivery, WebhookEndpoint

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 24  # Standard Webhooks: between 24 and 64 bytes
MAX_SECRET_BYTES = 64
EVENT_TYPES = (
    "video.asset.created", "video.asset.ready", "video.asset.errored", "video.asset.updated", "video.asset.deleted",
    "video.asset.track.ready", "video.asset.track.deleted", "video.asset.live_stream_completed",
    "video.asset.static_renditions.ready",
    "video.live_stream.created", "video.live_stream.connected", "video.live_stream.recording",
    "video.live_stream.active", "video.live_stream.disconnected", "video.live_stream.idle",
    "video.live_stream.disabled", "video.live_stream.enabled", "video.live_stream.deleted",
    "video.live_stream.publish_refused",
    *(f"video.live_stream.simulcast_target.{state}"
      for state in ("created", "idle", "starting", "broadcasting", "errored", "deleted")),
)
ALL_EVENTS = "*"
Row = TypeVar("Row")


class InvalidWebhook(ValueError):
    """The request names an unknown event type or a malformed secret; answered with 422."""


def generate_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and the base64 of random bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def secret_key(secret: str) -> bytes:
    """The HMAC key: the base64-decoded part after `whsec_`."""
    if not secret.startswith(SECRET_PREFIX):
        raise InvalidWebhook(f"the secret must start with {SECRET_PREFIX!r}")
    try:
        key = base64.b64decode(secret[len(SECRET_PREFIX):], validate=True)
    except binascii.Error as exc:
        raise InvalidWebhook(f"the part after {SECRET_PREFIX!r} must be base64") from exc
    if not SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise InvalidWebhook(f"the secret must decode to {SECRET_BYTES}-{MAX_SECRET_BYTES} bytes")
    return key


def check_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - {*EVENT_TYPES, ALL_EVENTS})
    if unknown:
        raise InvalidWebhook(f"unknown event types: {', '.join(unknown)}; choose from {', '.join(EVENT_TYPES)} or *")
    return list(dict.fromkeys(event_types))


def subscribes_to(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return ALL_EVENTS in endpoint.event_types or event_type in endpoint.event_types


def create_endpoint(*, db_session: Session, url: str, event_types: list[str],
                    secret: str | None = None) -> WebhookEndpoint:
    """Validated before anything is written; the caller commits."""
    secret = secret or generate_secret()
    secret_key(secret)
    endpoint = WebhookEndpoint(id=new_id("wh_"), url=url, event_types=check_event_types(event_types), secret=secret)
    db_session.add(endpoint)
    db_session.flush()
    return endpoint


def get_endpoint(*, db_session: Session, endpoint_id: str) -> WebhookEndpoint | None:
    return db_session.get(WebhookEndpoint, endpoint_id)


def list_endpoints(*, db_session: Session, limit: int = 25,
                   cursor: str | None = None) -> tuple[list[WebhookEndpoint], str | None]:
    """Newest first, paged like assets."""
    query = select(WebhookEndpoint)
    if cursor:
        query = query.where(WebhookEndpoint.id < decode_cursor(cursor, prefix="wh_"))
    return page(db_session, query.order_by(WebhookEndpoint.id.desc()), limit, lambda row: row.id)


def delete_endpoint(*, db_session: Session, endpoint: WebhookEndpoint) -> None:
    """Its deliveries go with it (ON DELETE CASCADE): nobody is left to receive them."""
    db_session.delete(endpoint)
    db_session.commit()


def list_deliveries(*, db_session: Session, endpoint_id: str, limit: int = 25,
                    cursor: str | None = None) -> tuple[list[tuple[WebhookDelivery, str]], str | None]:
    """The endpoint's delivery log, newest first, each with its event type."""
    query = (select(WebhookDelivery, OutboxEvent.type)
             .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
             .where(WebhookDelivery.endpoint_id == endpoint_id))
    if cursor:
        query = query.where(WebhookDelivery.id < decode_cursor(cursor, prefix="whd_"))
    rows, next_cursor = page(db_session, query.order_by(WebhookDelivery.id.desc()), limit, lambda row: row[0].id,
                              scalars=False)
    return [(delivery, event_type) for delivery, event_type in rows], next_cursor

