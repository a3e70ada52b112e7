"""Stored responses for Idempotency-Key, so a retried create returns the first answer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from streamstack.db.base import Base, utcnow


class IdempotencyRecord(Base):
    __tablename__ = "idempotency_records"

    scope_key: Mapped[str] = mapped_column(String(320), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    body: Mapped[Any] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
