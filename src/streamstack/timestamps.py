"""Every timestamp the platform shows is RFC 3339 in UTC with a `Z`, whichever catalog stored it.

SQLite hands back naive datetimes (stored as UTC), PostgreSQL aware ones in the session's zone; both become
the same text here, in list, get and create responses and in webhook payloads alike.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from pydantic import AfterValidator, PlainSerializer, WithJsonSchema


def as_utc(moment: datetime) -> datetime:
    """Naive means UTC (how SQLite keeps it); aware values are converted."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def rfc3339(moment: datetime) -> str:
    """`2026-11-30T16:01:58.123Z`: milliseconds, UTC, `Z`."""
    return as_utc(moment).replace(tzinfo=None).isoformat(timespec="milliseconds") + "Z"


UtcDateTime = Annotated[
    datetime,
    AfterValidator(as_utc),
    PlainSerializer(rfc3339, return_type=str, when_used="json"),
    WithJsonSchema({"type": "string", "format": "date-time", "examples": ["2026-01-01T00:00:00.000Z"]}),
]
"""A datetime field of an API schema: always UTC, serialised by rfc3339."""
