"""Another edge as this edge's object store: the origin shield of a two-tier edge, read over HTTP.

The shield answers `/_origin/{key}` (HEAD and GET with Range) only for requests carrying the shared
token, from its own coalescing cache and live watches, so however many edges read through it, the
store behind it sees one read per object version. Read-only: an edge never writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from email.utils import parsedate_to_datetime
from pathlib import Path

import httpx

from streamstack.storage.base import Changed, ObjectInfo, ObjectNotFound, StorageUnavailable, validate_key

ORIGIN_PATH = "/_origin/"
TOKEN_HEADER = "x-streamstack-origin-token"
TIMEOUT_SECONDS = 10.0
MAX_CONNECTIONS = 64  # the edge's thread pool reads through this many kept-alive connections at most


class EdgeOriginStore:
    """ObjectStore over a shield edge's `/_origin/` path (edge_origin_url, edge_origin_token)."""

    def __init__(self, base_url: str, token: str, bucket: str, *, transport: httpx.BaseTransport | None = None):
        self.bucket = bucket
        self.base_url = base_url.rstrip("/")
        limits = httpx.Limits(max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_CONNECTIONS)
        self._client = httpx.Client(headers={TOKEN_HEADER: token}, timeout=TIMEOUT_SECONDS, limits=limits,
                                    transport=transport)  # fmt: skip

    def __repr__(self) -> str:
        return f"EdgeOriginStore({self.base_url!r})"

    def head(self, key: str) -> ObjectInfo:
        response = self._request("HEAD", key)
        return _info(key, response)

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        """One GET with If-None-Match: the shield answers 304 while the object is that version."""
        headers = {"if-none-match": f'"{etag}"'} if etag is not None else {}
        try:
            response = self._client.get(self._url(key), headers=headers)
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"edge origin unreachable: {exc}") from exc
        if response.status_code == 304:
            return None
        _check(key, response)
        return Changed(_info(key, response), response.content)

    def get(self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Streams the body; a Range is sent only for a partial read."""
        headers = {"range": f"bytes={start}-{'' if end is None else end}"} if start or end is not None else {}
        request = self._client.build_request("GET", self._url(key), headers=headers)
        try:
            response = self._client.send(request, stream=True)
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"edge origin unreachable: {exc}") from exc
        try:
            _check(key, response)
        except BaseException:
            response.close()
            raise
        return _stream(response, chunk_size)

    def local_path(self, key: str) -> Path | None:
        return None

    def ping(self) -> None:
        try:
            self._client.get(self.base_url + "/healthz").raise_for_status()
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"edge origin unreachable: {exc}") from exc

    def put(self, key: str, chunks: Iterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        raise StorageUnavailable("an edge origin is read-only")

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> ObjectInfo:
        raise StorageUnavailable("an edge origin is read-only")

    def delete(self, key: str) -> None:
        raise StorageUnavailable("an edge origin is read-only")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        raise StorageUnavailable("an edge origin cannot list")

    def close(self) -> None:
        self._client.close()

    def _url(self, key: str) -> str:
        return self.base_url + ORIGIN_PATH + validate_key(key)

    def _request(self, method: str, key: str) -> httpx.Response:
        try:
            response = self._client.request(method, self._url(key))
        except httpx.HTTPError as exc:
            raise StorageUnavailable(f"edge origin unreachable: {exc}") from exc
        _check(key, response)
        return response


def _check(key: str, response: httpx.Response) -> None:
    if response.status_code == 404:
        raise ObjectNotFound(key)
    if response.status_code not in (200, 206):
        raise StorageUnavailable(f"edge origin answered {response.status_code} for {key}")


def _info(key: str, response: httpx.Response) -> ObjectInfo:
    modified = response.headers.get("last-modified")
    return ObjectInfo(
        key=key,
        size=int(response.headers.get("content-length", "0")),
        etag=response.headers.get("etag", "").strip('"'),
        last_modified=parsedate_to_datetime(modified).timestamp() if modified else 0.0,
        content_type=response.headers.get("content-type"),
    )


def _stream(response: httpx.Response, chunk_size: int) -> Iterator[bytes]:
    try:
        yield from response.iter_bytes(chunk_size)
    except httpx.HTTPError as exc:
        raise StorageUnavailable(f"edge origin failed mid-body: {exc}") from exc
    finally:
        response.close()
