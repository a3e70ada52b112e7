"""The ObjectStore protocol every adapter (local folder, S3) implements, and key validation."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable


class ObjectNotFound(KeyError):
    """The key does not exist."""


class InvalidKey(ValueError):
    """The key could escape the store or is malformed."""


class StorageUnavailable(RuntimeError):
    """The backend failed; the caller should answer 503 and write nothing else."""


@dataclass(frozen=True)
class ObjectInfo:
    key: str
    size: int
    etag: str
    last_modified: float
    content_type: str | None = None


_KEY_RE = re.compile(r"^[A-Za-z0-9._\-/=+@]+$")


def validate_key(key: str) -> str:
    """Reject keys that could leave the store: '..', absolute paths, empty parts, odd characters."""
    if not key or len(key) > 1024 or key.startswith("/") or "\\" in key or not _KEY_RE.match(key):
        raise InvalidKey(f"invalid object key: {key!r}")
    parts = key.split("/")
    if any(part in ("", ".", "..") for part in parts):
        raise InvalidKey(f"invalid object key: {key!r}")
    return key


@runtime_checkable
class ObjectStore(Protocol):
    """Streaming object storage with S3 semantics; writes are atomic (readers never see half an object)."""

    bucket: str

    def put(self, key: str, chunks: Iterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        """Store an object from an iterable of chunks, never holding it all in memory."""
        ...

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> ObjectInfo:
        """Store a local file (moved or streamed by the adapter)."""
        ...

    def get(self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream bytes [start, end] inclusive, like an HTTP Range."""
        ...

    def head(self, key: str) -> ObjectInfo:
        ...

    def delete(self, key: str) -> None:
        """Delete; deleting a missing key is not an error (as in S3)."""
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        ...

    def local_path(self, key: str) -> Path | None:
        """The file behind a key when the store is a local folder (for sendfile), else None."""
        ...

    def ping(self) -> None:
        """Raise StorageUnavailable when the backend cannot serve requests."""
        ...


@dataclass(frozen=True)
class Changed:
    """A conditional read's answer: the object's new version, its body, and when it was written if the store knows."""

    info: ObjectInfo
    body: bytes
    written_at: float | None = None  # when it appeared, to the ms (a local file's ctime); S3 dates whole seconds


@runtime_checkable
class ConditionalStore(Protocol):
    """A store that reads an object only when it changed, in one request (S3: GetObject with If-None-Match)."""

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        """The whole object when its ETag is not `etag`; None when it is (a 304: no body moved)."""
        ...


def read_if_changed(store: ObjectStore, key: str, etag: str | None) -> Changed | None:
    """One conditional request where the store has it; HEAD, then GET when changed, where it has not."""
    if isinstance(store, ConditionalStore):
        return store.get_if_changed(key, etag)
    info = store.head(key)
    return None if info.etag == etag else Changed(info, b"".join(store.get(key)))


@runtime_checkable
class MultipartStore(ObjectStore, Protocol):
    """A store that also takes one object in numbered parts, including parts clients PUT to presigned URLs (S3).

    Uploads use it to send every byte straight to the store; a store without it gets part files instead.
    """

    part_size: int

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """Start a multipart upload of `key`; returns its upload id."""
        ...

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        """Store one part; returns the {PartNumber, ETag} entry complete_multipart needs."""
        ...

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        """Assemble the parts into the object (atomic: readers see the whole object or nothing)."""
        ...

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Discard the parts (best effort)."""
        ...

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        """Every part stored so far ({PartNumber, ETag, Size}); a missing upload is ObjectNotFound."""
        ...

    def find_multipart(self, key: str) -> str | None:
        """The newest unfinished multipart upload of exactly `key`, if any."""
        ...

    def presign_upload_part(self, key: str, upload_id: str, number: int, *, expires_in: int) -> str:
        """A URL a client PUTs one part to without credentials."""
        ...


def delete_prefix(store: ObjectStore, prefix: str) -> int:
    """Delete every object under a prefix; returns how many went."""
    keys = [info.key for info in store.list(prefix)]
    for key in keys:
        store.delete(key)
    return len(keys)
