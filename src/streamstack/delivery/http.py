"""Small HTTP rules the edge applies by hand, because a raw ASGI app is what keeps it fast."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from email.utils import formatdate
from typing import Any

from streamstack.numeric import NotANumber, parse_non_negative_int

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

CORS_ALLOW_HEADERS = b"Range, If-None-Match, If-Range, Content-Type"
CORS_EXPOSE_HEADERS = b"Content-Length, Content-Range, ETag, Accept-Ranges, Cache-Control"
CORS_ANY: Headers = [(b"access-control-allow-origin", b"*"), (b"access-control-expose-headers", CORS_EXPOSE_HEADERS)]

MAX_AGE_IMMUTABLE = 31_536_000
_PLAIN_HOST = re.compile(rb"(?:[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])(?::[0-9]{1,5})?")


def is_plain_host(host: bytes | None) -> bool:
    """A Host header is a name or address and an optional port, nothing else (absent is HTTP/1.0's right)."""
    return host is None or _PLAIN_HOST.fullmatch(host) is not None


class RangeNotSatisfiable(Exception):
    """The Range asks for bytes the object does not have: answer 416 with `bytes */size`."""


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """One byte range as (start, end) inclusive; None: serve it all (no, multiple or malformed ranges).

    RFC 9110 lets a server ignore a Range it cannot parse, so malformed numbers fall back to the whole object.
    """
    unit, _, spec = header.partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    try:
        start = parse_non_negative_int(first, what="range start") if first else None
        stop = parse_non_negative_int(last, what="range end") if last else None
    except NotANumber:
        return None
    if not dash or (start is None and stop is None):
        return None
    if start is None:  # a suffix: the last `stop` bytes
        suffix = stop or 0
        if suffix == 0 or size == 0:
            raise RangeNotSatisfiable
        return max(0, size - suffix), size - 1
    end = size - 1 if stop is None else min(stop, size - 1)
    if stop is not None and stop < start:
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


# Signed playback may be kept by CloudFront, whose cache key holds the signing parameters (a copy only ever
# answers the same signature), but briefly: past the signature's expiry a cached copy still answers it.
SIGNED_SHARED_MAX_AGE = 60


def cache_control(max_age: int, *, private: bool, immutable: bool = False) -> str:
    """`private` (signed playback): cacheable per signature at the CDN for at most SIGNED_SHARED_MAX_AGE."""
    shared = f", s-maxage={min(max_age, SIGNED_SHARED_MAX_AGE)}" if private else ""
    return f"public, max-age={max_age}{shared}" + (", immutable" if immutable else "")


@dataclass(frozen=True)
class Reply:
    """A small complete response (errors, preflights, stats), sent in one go."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes = b""


def request_headers(scope: Scope) -> dict[bytes, bytes]:
    """Lower-cased request headers; repeated Cookie headers are joined as HTTP/2 allows."""
    headers: dict[bytes, bytes] = {}
    for name, value in scope["headers"]:
        if name == b"cookie" and name in headers:
            headers[name] += b"; " + value
        else:
            headers[name] = value
    return headers


def cors_headers(headers: dict[bytes, bytes]) -> list[tuple[bytes, bytes]]:
    """Echo the Origin with credentials allowed, so browser players can send signed cookies cross-origin."""
    return cors_for_origin(headers.get(b"origin"))


def cors_for_origin(origin: bytes | None) -> list[tuple[bytes, bytes]]:
    """The CORS headers of `cors_headers` for a request's Origin (None: no Origin, any origin allowed)."""
    if origin is None:
        return CORS_ANY
    return [
        (b"access-control-allow-origin", origin),
        (b"access-control-allow-credentials", b"true"),
        (b"access-control-expose-headers", CORS_EXPOSE_HEADERS),
        (b"vary", b"Origin"),
    ]


def preflight(headers: dict[bytes, bytes]) -> Reply:
    """Browsers ask before a Range request from another origin; the answer is cached for a day."""
    requested = headers.get(b"access-control-request-headers", CORS_ALLOW_HEADERS)
    return Reply(
        204,
        [
            *cors_headers(headers),
            (b"access-control-allow-methods", b"GET, HEAD, OPTIONS"),
            (b"access-control-allow-headers", requested),
            (b"access-control-max-age", b"86400"),
        ],
    )


def error_reply(
    status: int, text: str, headers: dict[bytes, bytes], extra: list[tuple[bytes, bytes]] | None = None
) -> Reply:
    """Errors carry only their status text: a 403 never says which check failed."""
    body = f"{text}\n".encode()
    return Reply(
        status,
        [
            (b"content-type", b"text/plain; charset=utf-8"),
            (b"cache-control", b"no-store"),
            *cors_headers(headers),
            *(extra or []),
        ],
        body,
    )


async def send_reply(send: Send, reply: Reply, scope: Scope) -> None:
    """Send a small complete reply; HEAD gets the headers only."""
    body = b"" if scope["method"] == "HEAD" else reply.body
    headers = reply.headers
    if reply.status not in (204, 304) and not any(name == b"content-length" for name, _ in headers):
        headers = [*headers, (b"content-length", str(len(reply.body)).encode())]
    await send({"type": "http.response.start", "status": reply.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def lifespan(
    receive: Receive, send: Send, *, on_startup: Callable[[], None] | None = None,
    on_shutdown: Callable[[], None] | None = None,
) -> None:
    """The platform is built before the app and closed by its owner; the hooks start and stop side listeners."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            if on_startup is not None:
                on_startup()
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            if on_shutdown is not None:
                on_shutdown()
            await send({"type": "lifespan.shutdown.complete"})
            return
