"""URL imports: the message that asks a worker to fetch a URL, and the fetch itself (every hop SSRF-checked)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urljoin

import httpx

from streamstack.numeric import NotANumber, parse_non_negative_int
from streamstack.outbound import UrlRefused, check_address, check_url
from streamstack.settings import Settings

MAX_REDIRECTS = 5
IMPORT_TYPE = "streamstack:asset.import"


def import_message(asset_id: str, url: str) -> dict[str, Any]:
    """The encode-queue message that asks a worker to fetch the URL into the asset's source."""
    return {"type": IMPORT_TYPE, "asset_id": asset_id, "url": url}


def stream_url(url: str, settings: Settings, *, chunk_size: int = 1 << 20) -> Iterator[bytes]:
    """Follows redirects by hand so every hop is checked, and checks the connected peer (DNS rebinding)."""
    timeout = httpx.Timeout(settings.import_timeout_seconds)
    with httpx.Client(timeout=timeout, follow_redirects=False, trust_env=False) as client:
        for _ in range(MAX_REDIRECTS + 1):
            check_url(url, settings)
            with client.stream("GET", url) as response:
                _check_peer(response, settings)
                if response.is_redirect:
                    url = urljoin(url, response.headers["location"])
                    continue
                if response.status_code != 200:
                    raise UrlRefused(f"input URL answered HTTP {response.status_code}")
                declared = declared_length(response)
                if declared > settings.max_upload_bytes:
                    raise UrlRefused(f"input is {declared} bytes; the limit is {settings.max_upload_bytes}")
                yield from _bounded(response.iter_bytes(chunk_size), settings.max_upload_bytes)
                return
    raise UrlRefused(f"input URL redirected more than {MAX_REDIRECTS} times")


def declared_length(response: httpx.Response) -> int:
    """The source's Content-Length (0 when absent); a malformed one is refused, not a crash."""
    raw = response.headers.get("content-length")
    try:
        return 0 if raw is None else parse_non_negative_int(raw, what="the input's Content-Length")
    except NotANumber as exc:
        raise UrlRefused(str(exc)) from exc


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
            raise UrlRefused(f"input is larger than the limit of {limit} bytes")
        yield chunk
