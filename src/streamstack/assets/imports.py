"""URL imports: refuse private, loopback and link-local targets (SSRF), stream the body into the store."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin, urlsplit

import httpx

from streamstack.numeric import NotANumber, parse_non_negative_int
from streamstack.settings import Settings

MAX_REDIRECTS = 5
IMPORT_TYPE = "streamstack:asset.import"


def import_message(asset_id: str, url: str) -> dict[str, Any]:
    """The encode-queue message that asks a worker to fetch the URL into the asset's source."""
    return {"type": IMPORT_TYPE, "asset_id": asset_id, "url": url}


class ImportRefused(ValueError):
    """The URL is not one the platform will fetch; the message says why."""


def check_import_url(url: str, settings: Settings, *, must_resolve: bool = True) -> None:
    """Scheme, host and every address it resolves to must be public unless allow-listed.

    Webhooks pass must_resolve=False: a host that does not resolve yet is retried at delivery, not refused.
    """
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ImportRefused("input must be an http:// or https:// URL")
    if not parts.hostname:
        raise ImportRefused("input URL has no host")
    if parts.username or parts.password:
        raise ImportRefused("input URL must not carry credentials")
    try:
        infos = socket.getaddrinfo(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80),
                                   type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        if not must_resolve:
            return
        raise ImportRefused(f"input host {parts.hostname!r} does not resolve") from exc
    for info in infos:
        check_address(str(info[4][0]), settings)


def check_address(address: str, settings: Settings) -> None:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in settings.outbound_allow_cidrs):
        return
    if not ip.is_global or ip.is_multicast:
        raise ImportRefused(f"input resolves to a non-public address ({ip}); imports from private, "
                            "loopback and link-local networks are refused")


def stream_url(url: str, settings: Settings, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Follows redirects by hand so every hop is checked, and checks the connected peer (DNS rebinding)."""
    timeout = httpx.Timeout(settings.import_timeout_seconds)
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_import_url(url, settings)
            with client.stream("GET", url) as response:
                _check_peer(response, settings)
                if response.is_redirect:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise ImportRefused(f"input URL answered HTTP {response.status_code}")
                declared = declared_length(response)
                if declared > settings.max_upload_bytes:
                    raise ImportRefused(f"input is {declared} bytes; the limit is {settings.max_upload_bytes}")
                yield from _bounded(response.iter_bytes(chunk_size), settings.max_upload_bytes)
                return
    raise ImportRefused(f"input URL redirected more than {MAX_REDIRECTS} times")


def declared_length(response: httpx.Response) -> int:
    """The source's Content-Length (0 when absent); a malformed one is refused, not a crash."""
    raw = response.headers.get("content-length")
    try:
        return 0 if raw is None else parse_non_negative_int(raw, what="the input's Content-Length")
    except NotANumber as exc:
        raise ImportRefused(str(exc)) from exc


def _check_peer(response: httpx.Response, settings: Settings) -> None:
    stream = response.extensions.get("network_stream")
    peer = stream.get_extra_info("server_addr") if stream is not None else None
    if peer:
        check_address(str(peer[0]), settings)


def _bounded(chunks: Iterator[bytes], limit: int) -> Iterator[bytes]:
    total = 0
    for chunk in chunks:
        total += len(chunk)
        if total > limit:
            raise ImportRefused(f"input is larger than the limit of {limit} bytes")
        yield chunk
