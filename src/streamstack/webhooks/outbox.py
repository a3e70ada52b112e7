"""Writes platform events to the outbox in the caller's transaction (delivered later by the dispatcher)."""

from __future__ import annotations

from typing import Any

from sqlalchemy.orm import Session

from streamstack.db.base import new_id
from streamstack.webhooks.models import OutboxEvent


def record_event(*, db_session: Session, type: str, object_type: str, object_id: str,
                 data: dict[str, Any]) -> OutboxEvent:
    """Adds the event to the session; it commits with the state change it describes."""
    event = OutboxEvent(id=new_id("evt_"), type=type, object_type=object_type, object_id=object_id, data=data)
    db_session.add(event)
    return event
