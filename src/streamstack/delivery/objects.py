"""Origin objects as the edge keeps them, and how long each kind may be cached."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from streamstack.delivery import playlists
from streamstack.delivery.http import CORS_ANY, MAX_AGE_IMMUTABLE, Headers, cache_control

IMAGE_MAX_AGE = 3600
FINAL_PLAYLIST_MAX_AGE = 3600
READY_MASTER_MAX_AGE = 300
CHANGING_MAX_AGE = 2
METADATA_BYTES = 512
MAX_RENDERINGS = 16


@dataclass
class EdgeObject:
    """An origin object as the edge serves it; body is None when it is not kept in memory (large, or sent as a file)."""

    key: str
    size: int
    etag: str
    content_type: bytes
    last_modified: bytes
    body: bytes | None
    max_age: int
    immutable: bool
    is_playlist: bool = False
    local_path: Path | None = None  # resolved once at load: resolving per request was most of a segment's cost
    rendered: dict[tuple[str, int | None], tuple[bytes, str]] = field(default_factory=dict)
    _headers: dict[tuple[str, bool], Headers] = field(default_factory=dict)
    _plain_200: dict[tuple[str, bool], Headers] = field(default_factory=dict)

    def shares(self, etag: str) -> bool:
        """True for the stored or a memoised rendering: not per-viewer, so worth remembering headers for."""
        return etag == self.etag or any(etag == known for _, known in self.rendered.values())

    def headers(self, etag: str, private: bool, *, memo: bool = True) -> Headers:
        """Response headers that depend only on the object; built once per variant, not per request."""
        cached = self._headers.get((etag, private))
        if cached is None:
            cached = [
                (b"content-type", self.content_type),
                (b"etag", etag.encode()),
                (b"last-modified", self.last_modified),
                (b"cache-control", cache_control(self.max_age, private=private, immutable=self.immutable).encode()),
                (b"accept-ranges", b"bytes"),
            ]
            if memo:
                self._headers[etag, private] = cached
        return cached

    def remember(self, key: tuple[str, int | None], rendering: tuple[bytes, str]) -> None:
        """Keep a shared rendering (prefix, max_resolution), a bounded few per object."""
        if len(self.rendered) < MAX_RENDERINGS:
            self.rendered[key] = rendering

    def plain_200_headers(self, etag: str, private: bool, length: int) -> Headers:
        """The whole header list of the most common answer (full body, no Origin), memoised for shared bodies."""
        cached = self._plain_200.get((etag, private))
        if cached is None:
            memo = self.shares(etag)
            cached = [*self.headers(etag, private, memo=memo), *CORS_ANY, (b"content-length", b"%d" % length)]
            if memo:
                self._plain_200[etag, private] = cached
        return cached


def cache_lifetime(key: str, body: bytes | None, ready: bool) -> tuple[int, bool]:
    """Browser max-age and immutability: segments forever, playlists by whether they can still change."""
    if not key.endswith(".m3u8"):
        return (IMAGE_MAX_AGE, False) if key.endswith((".jpg", ".vtt", ".png", ".webp")) else (MAX_AGE_IMMUTABLE, True)
    if body is None:
        return CHANGING_MAX_AGE, False
    if playlists.is_master(body):
        return (READY_MASTER_MAX_AGE if ready else CHANGING_MAX_AGE), False
    if playlists.is_final(body):
        return FINAL_PLAYLIST_MAX_AGE, False
    return max(1, int((playlists.target_duration(body) or 2) / 2)), False


def memory_weight(obj: EdgeObject) -> int:
    """Bytes held in memory: the body, or a small fixed cost for the metadata of a file sent directly."""
    return len(obj.body) if obj.body is not None else METADATA_BYTES


def etag_of(body: bytes) -> str:
    """A strong validator for bytes the edge rendered itself (rewritten playlists)."""
    return '"' + hashlib.md5(body, usedforsecurity=False).hexdigest() + '"'
