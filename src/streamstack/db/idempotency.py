"""Idempotency-Key claims and their stored responses: status_code is NULL while the first request runs."""

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
    status_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    body: Mapped[Any] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
