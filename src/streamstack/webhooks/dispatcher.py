"""Delivers outbox events to webhook endpoints at least once, signed per the Standard Webhooks scheme.

Two steps per worker tick, both safe with many workers on SQLite or PostgreSQL: new outbox events are
fanned out to one WebhookDelivery per subscribed endpoint (the event is claimed by a conditional UPDATE
of `dispatched_at`), then due deliveries are claimed (a conditional UPDATE that moves `next_attempt_at`
past the attempt's timeout, a lease that lets another worker retry if this one dies) and POSTed. A
failed attempt is rescheduled with exponential backoff and jitter until `webhook_max_age_seconds`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from streamstack.db.base import new_id, utcnow
from streamstack.db.session import session_scope
from streamstack.observability import metrics
from streamstack.outbound import WEBHOOK, CheckedAddressTransport, UrlRefused, check_url
from streamstack.platform import Platform
from streamstack.secrets import webhook_secret
from streamstack.timestamps import as_utc, rfc3339
from streamstack.webhooks.models import OutboxEvent, WebhookDelivery, WebhookEndpoint
from streamstack.webhooks.service import secret_key, subscribes_to

log = logging.getLogger("streamstack.webhooks")

FAN_OUT_BATCH = 100
DELIVERY_BATCH = 50
LEASE_MARGIN_SECONDS = 30.0
MAX_ERROR_LENGTH = 500
USER_AGENT = "streamstack-webhooks/1"


@dataclass(frozen=True)
class Backoff:
    """Delay after failed attempt n: half of min(cap, base * 2**(n-1)) plus up to as much again at random.

    The jitter spreads retries of many deliveries to one recovering receiver; the fixed half keeps the growth.
    """

    base_seconds: float = 5.0
    cap_seconds: float = 3600.0

    def delay(self, attempt: int) -> float:
        ceiling = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        return ceiling / 2 + random.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Outcome:
    ok: bool
    status_code: int | None
    error: str | None


def dispatch_due(platform: Platform, *, backoff: Backoff | None = None) -> int:
    """One worker tick: fan new events out, then attempt due deliveries; returns the attempts made."""
    fan_out(platform)
    return deliver_due(platform, backoff=backoff or Backoff())


def fan_out(platform: Platform) -> int:
    """Turn undispatched outbox events into deliveries; returns how many events this worker claimed."""
    with platform.sessions() as db_session:
        event_ids = list(db_session.scalars(
            select(OutboxEvent.id).where(OutboxEvent.dispatched_at.is_(None))
            .order_by(OutboxEvent.created_at).limit(FAN_OUT_BATCH)
        ))
    return sum(fan_out_event(platform, event_id=event_id) for event_id in event_ids)


def fan_out_event(platform: Platform, *, event_id: str) -> bool:
    """Claim first (the write lock comes before any read), then add a delivery per subscribed endpoint."""
    now = utcnow()
    with session_scope(platform.sessions) as db_session:
        claimed = db_session.execute(
            update(OutboxEvent).where(OutboxEvent.id == event_id, OutboxEvent.dispatched_at.is_(None))
            .values(dispatched_at=now).execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return False
        event_type = db_session.scalar(select(OutboxEvent.type).where(OutboxEvent.id == event_id))
        for endpoint in db_session.scalars(select(WebhookEndpoint)):
            if subscribes_to(endpoint, event_type or ""):
                db_session.add(WebhookDelivery(id=new_id("whd_"), endpoint_id=endpoint.id, event_id=event_id,
                                               status="pending", attempts=0, next_attempt_at=now))
    return True


def deliver_due(platform: Platform, *, backoff: Backoff) -> int:
    """Attempt each due delivery this worker can claim, within about two attempt timeouts per tick."""
    settings = platform.settings
    budget_ends = time.monotonic() + 2 * settings.webhook_timeout_seconds
    attempts = 0
    transport = CheckedAddressTransport(settings, WEBHOOK)
    with httpx.Client(timeout=settings.webhook_timeout_seconds, follow_redirects=False,
                      headers={"user-agent": USER_AGENT}, transport=transport) as client:
        for delivery_id in due_delivery_ids(platform):
            if time.monotonic() > budget_ends:
                break
            attempts += attempt_delivery(platform, client, delivery_id=delivery_id, backoff=backoff)
    return attempts


def due_delivery_ids(platform: Platform) -> list[str]:
    with platform.sessions() as db_session:
        return list(db_session.scalars(
            select(WebhookDelivery.id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
            .order_by(WebhookDelivery.next_attempt_at).limit(DELIVERY_BATCH)
        ))


def attempt_delivery(platform: Platform, client: httpx.Client, *, delivery_id: str, backoff: Backoff) -> int:
    """Claim, send (no transaction open meanwhile), record; 0 when another worker had it."""
    lease = platform.settings.webhook_timeout_seconds + LEASE_MARGIN_SECONDS
    claim = claim_delivery(platform, delivery_id=delivery_id, lease_seconds=lease)
    if claim is None:
        return 0
    attempt, message_id, url, secret, body = claim
    started = time.perf_counter()
    outcome = refused_target(platform, url) or send(client, url=url, secret=secret, message_id=message_id, body=body)
    metrics.record_webhook_attempt(time.perf_counter() - started, ok=outcome.ok)
    with session_scope(platform.sessions) as db_session:
        record_outcome(db_session=db_session, delivery_id=delivery_id, attempt=attempt, outcome=outcome,
                       backoff=backoff, max_age_seconds=platform.settings.webhook_max_age_seconds)
    return 1


def claim_delivery(platform: Platform, *, delivery_id: str,
                   lease_seconds: float) -> tuple[int, str, str, str, bytes] | None:
    """(attempt number, webhook-id, url, secret, body) once this worker owns the attempt, else None."""
    now = utcnow()
    with session_scope(platform.sessions) as db_session:
        claimed = db_session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.id == delivery_id, WebhookDelivery.status == "pending",
                   WebhookDelivery.next_attempt_at <= now)
            .values(attempts=WebhookDelivery.attempts + 1, next_attempt_at=now + timedelta(seconds=lease_seconds))
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            return None
        row = db_session.execute(
            select(WebhookDelivery.attempts, WebhookEndpoint.url, WebhookEndpoint.id, WebhookEndpoint.secret,
                   OutboxEvent)
            .join(WebhookEndpoint, WebhookEndpoint.id == WebhookDelivery.endpoint_id)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.id == delivery_id)
        ).one()
        attempt, url, endpoint_id, stored_secret, event = row
        return attempt, event.id, url, endpoint_secret(platform, endpoint_id, stored_secret), payload_body(event)


def endpoint_secret(platform: Platform, endpoint_id: str, stored_secret: str) -> str:
    """Secrets Manager's value wins when it lists the endpoint (aws backend); else the catalog's."""
    if platform.settings.secrets_backend != "aws":
        return stored_secret
    return webhook_secret(platform.secrets, endpoint_id) or stored_secret


def payload_body(event: OutboxEvent) -> bytes:
    """Mux's envelope: type, id, created_at, object {type, id}, data."""
    payload: dict[str, Any] = {
        "type": event.type,
        "id": event.id,
        "created_at": rfc3339(event.created_at),
        "object": {"type": event.object_type, "id": event.object_id},
        "data": event.data,
    }
    return json.dumps(payload, separators=(",", ":"), sort_keys=True).encode()


def signature_headers(*, secret: str, message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """webhook-id, webhook-timestamp and `webhook-signature: v1,<base64 HMAC-SHA256(id.timestamp.body)>`."""
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": "v1," + base64.b64encode(digest).decode(),
    }


def refused_target(platform: Platform, url: str) -> Outcome | None:
    """The host is resolved again at each attempt: a name that now points inside the network is not called."""
    try:
        check_url(url, platform.settings, must_resolve=False, purpose=WEBHOOK)
    except UrlRefused as exc:
        return Outcome(False, None, str(exc)[:MAX_ERROR_LENGTH])
    return None


def send(client: httpx.Client, *, url: str, secret: str, message_id: str, body: bytes) -> Outcome:
    """One POST; only a 2xx answer within the timeout counts as delivered."""
    headers = {"content-type": "application/json",
               **signature_headers(secret=secret, message_id=message_id, timestamp=int(time.time()), body=body)}
    try:
        response = client.post(url, content=body, headers=headers)
    except UrlRefused as exc:  # the address about to be dialled is not public
        return Outcome(False, None, str(exc)[:MAX_ERROR_LENGTH])
    except httpx.HTTPError as exc:
        return Outcome(False, None, f"{type(exc).__name__}: {exc}"[:MAX_ERROR_LENGTH])
    if response.is_success:
        return Outcome(True, response.status_code, None)
    return Outcome(False, response.status_code, f"HTTP {response.status_code}")


def record_outcome(*, db_session: Session, delivery_id: str, attempt: int, outcome: Outcome, backoff: Backoff,
                   max_age_seconds: float) -> None:
    """Delivered, retried later, or failed for good once the next try would pass the maximum age."""
    delivery = db_session.get(WebhookDelivery, delivery_id)
    if delivery is None or delivery.attempts != attempt or delivery.status != "pending":
        return  # the endpoint was deleted, or a later attempt owns the row
    now = utcnow()
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    if outcome.ok:
        delivery.status, delivery.delivered_at, delivery.next_attempt_at = "delivered", now, None
        return
    retry_at = now + timedelta(seconds=backoff.delay(attempt))
    if retry_at > as_utc(delivery.created_at) + timedelta(seconds=max_age_seconds):
        delivery.status, delivery.next_attempt_at = "failed", None
        log.warning("webhook delivery abandoned", extra={"delivery_id": delivery_id, "attempts": attempt})
    else:
        delivery.next_attempt_at = retry_at
