"""Small HTTP rules the edge applies by hand, because a raw ASGI app is what keeps it fast."""

from __future__ import annotations

from email.utils import formatdate

MAX_AGE_IMMUTABLE = 31_536_000


class RangeNotSatisfiable(Exception):
    """The Range asks for bytes the object does not have: answer 416 with `bytes */size`."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range as (start, end) inclusive; None: serve it all (no, multiple or malformed ranges)."""
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    if (
        not dash
        or not (first.isdigit() or last.isdigit())
        or (first and not first.isdigit())
        or (last and not last.isdigit())
    ):
        return None
    if not first:
        length = int(last)
        if length == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - length), size - 1
    start = int(first)
    end = size - 1 if not last else min(int(last), size - 1)
    if last and int(last) < start:
        return None
    if start >= size:
        raise RangeNotSatisfiable
    return start, end


def etag_matches(header: str, etag: str) -> bool:
    """Weak comparison, as If-None-Match requires."""
    if header.strip() == "*":
        return True
    bare = etag.removeprefix("W/")
    return any(candidate.strip().removeprefix("W/") == bare for candidate in header.split(","))


def http_date(timestamp: float) -> str:
    return formatdate(timestamp, usegmt=True)


def parse_cookies(header: str) -> dict[str, str]:
    """Lenient parsing: CloudFront values use ~ - _ which strict cookie parsers reject."""
    cookies: dict[str, str] = {}
    for part in header.split(";"):
        name, eq, value = part.strip().partition("=")
        if eq and name:
            cookies[name] = value.strip().strip('"')
    return cookies


def cache_control(max_age: int, *, private: bool, immutable: bool = False) -> str:
    """`private` when the response belongs to one viewer (signed playback): no shared cache reuses it."""
    scope = "private" if private else "public"
    return f"{scope}, max-age={max_age}" + (", immutable" if immutable else "")
