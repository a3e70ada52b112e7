"""Cursor pagination shared by every list endpoint: newest first, the cursor is the last id seen."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import Select
from sqlalchemy.orm import Session

MAX_PAGE = 100
Row = TypeVar("Row")


def encode_cursor(row_id: str) -> str:
    return base64.urlsafe_b64encode(row_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str, *, prefix: str) -> str:
    """The id a cursor carries; anything that is not one of our ids is refused rather than compared."""
    try:
        value = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError("malformed cursor") from exc
    if not value.startswith(prefix) or not value[len(prefix):].isalnum():
        raise ValueError("malformed cursor")
    return value


def page(db_session: Session, query: Select[Any] | Any, limit: int, row_id: Callable[[Any], str], *,
         scalars: bool = True) -> tuple[list[Any], str | None]:
    """One page plus the opaque cursor of the next one (None on the last page)."""
    limit = max(1, min(limit, MAX_PAGE))
    query = query.limit(limit + 1)
    rows = list(db_session.scalars(query) if scalars else db_session.execute(query).all())
    next_cursor = encode_cursor(row_id(rows[limit - 1])) if len(rows) > limit else None
    return rows[:limit], next_cursor
