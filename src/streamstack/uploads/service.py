"""Direct uploads: a tus resource per upload, staged in a part file, stored whole when complete."""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import re
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from sqlalchemy.orm import Session

from streamstack.assets import service as assets
from streamstack.assets.models import NewAssetSettings
from streamstack.db.base import new_id, utcnow
from streamstack.storage.base import ObjectInfo, ObjectStore
from streamstack.storage.keys import source_key
from streamstack.uploads.models import Upload

UPLOAD_TTL = timedelta(days=7)
MAX_METADATA_CHARS = 4096  # file name, type and a few app keys; far more is an abuse of the catalog
_METADATA_KEY = re.compile(r"[!-+\--~]{1,64}")  # printable ASCII without space and comma (tus)
CHECKSUM_ALGORITHMS = {"sha1": hashlib.sha1, "sha256": hashlib.sha256, "md5": hashlib.md5}


class UploadError(Exception):
    """A tus request the server must refuse; status and message go straight to the client."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True)
class ChunkResult:
    offset: int
    completed: bool


def create_upload(*, db_session: Session, new_asset_settings: NewAssetSettings, edge_base_url: str,
                  length: int | None = None, metadata: dict[str, str] | None = None) -> Upload:
    asset = assets.create_asset(db_session=db_session, new_asset_settings=new_asset_settings,
                                edge_base_url=edge_base_url, file_name=file_name_of(metadata or {}))
    upload = Upload(id=new_id("up_"), asset_id=asset.id, status="waiting", length=length, offset=0,
                    tus_metadata=metadata or {}, expires_at=utcnow() + UPLOAD_TTL)
    db_session.add(upload)
    db_session.commit()
    return upload


def file_name_of(metadata: dict[str, str]) -> str | None:
    """The file name tus clients send in Upload-Metadata (tus-js-client and tuspy: filename; Uppy: name)."""
    return metadata.get("filename") or metadata.get("name")


def declare_metadata(*, db_session: Session, upload: Upload, metadata: dict[str, str]) -> None:
    """Metadata sent with tus creation at an upload URL: kept, and its file name titles an untitled asset."""
    upload.tus_metadata = metadata
    asset = assets.get_asset(db_session=db_session, asset_id=upload.asset_id)
    if asset is not None:
        assets.default_title(asset, file_name_of(metadata))


def check_length(length: int, max_bytes: int) -> None:
    """The size limit, checked when a length is declared and again at every PATCH (the limit may have dropped)."""
    if length < 0:
        raise UploadError(400, "the upload length must be a non-negative integer")
    if length > max_bytes:
        raise UploadError(413, f"an upload of {length} bytes exceeds the maximum of {max_bytes} bytes")


def part_path(uploads_dir: Path, upload_id: str) -> Path:
    return uploads_dir / f"{upload_id}.part"


@contextmanager
def locked_part(path: Path) -> Iterator[int]:
    """One writer per upload across processes: an exclusive flock on the part file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield fd
    finally:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


def parse_checksum(header: str | None) -> tuple[str, bytes] | None:
    if not header:
        return None
    algorithm, _, encoded = header.partition(" ")
    if algorithm not in CHECKSUM_ALGORITHMS:
        raise UploadError(400, f"unsupported checksum algorithm {algorithm!r}")
    try:
        return algorithm, base64.b64decode(encoded, validate=True)
    except ValueError as exc:
        raise UploadError(400, "Upload-Checksum is not valid base64") from exc


def check_chunk(*, upload: Upload, client_offset: int, content_length: int | None, max_bytes: int) -> int:
    """Refuse a PATCH at the wrong offset, past the length or past the size limit; returns the bytes still expected."""
    if client_offset != upload.offset:
        raise UploadError(409, f"Upload-Offset {client_offset} does not match the current offset {upload.offset}")
    if upload.length is None:
        raise UploadError(400, "the upload length is not known yet: send Upload-Length")
    check_length(upload.length, max_bytes)
    room = upload.length - upload.offset
    if content_length is not None and content_length > room:
        raise UploadError(413, f"the chunk of {content_length} bytes goes past Upload-Length {upload.length}")
    return room


async def append_chunk(*, fd: int, upload: Upload, client_offset: int, body: AsyncIterator[bytes],
                       content_length: int | None, checksum: tuple[str, bytes] | None, max_bytes: int) -> int:
    """Write a PATCH body at the upload's offset; returns the new offset (kept on disconnect, tus-style)."""
    room = check_chunk(upload=upload, client_offset=client_offset, content_length=content_length,
                       max_bytes=max_bytes)
    os.ftruncate(fd, upload.offset)
    os.lseek(fd, upload.offset, os.SEEK_SET)
    digest = CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
    written = 0
    try:
        async for chunk in body:
            if written + len(chunk) > room:
                raise UploadError(413, f"the chunk goes past Upload-Length {upload.length}")
            os.write(fd, chunk)
            written += len(chunk)
            if digest:
                digest.update(chunk)
    except UploadError:
        os.ftruncate(fd, upload.offset)
        raise
    except Exception:
        if checksum:
            os.ftruncate(fd, upload.offset)
            raise
        os.fsync(fd)
        return upload.offset + written
    if digest and checksum and digest.digest() != checksum[1]:
        os.ftruncate(fd, upload.offset)
        raise UploadError(460, "Upload-Checksum does not match the chunk; it was discarded")
    os.fsync(fd)
    return upload.offset + written


def complete_upload(*, db_session: Session, store: ObjectStore, upload: Upload, path: Path) -> None:
    """Store the source (which emits the S3-style event), then mark the asset preparing."""
    asset = assets.get_asset(db_session=db_session, asset_id=upload.asset_id)
    if asset is None:
        raise UploadError(410, "the asset of this upload was deleted")
    info = store.put_file(source_key(asset.id), path, content_type="application/octet-stream")
    mark_source_stored(db_session=db_session, upload=upload, info=info)
    path.unlink(missing_ok=True)


def mark_source_stored(*, db_session: Session, upload: Upload, info: ObjectInfo) -> None:
    """The source object exists (part file stored, or S3 multipart completed): the asset is preparing."""
    asset = assets.get_asset(db_session=db_session, asset_id=upload.asset_id)
    if asset is None:
        raise UploadError(410, "the asset of this upload was deleted")
    assets.mark_preparing(db_session=db_session, asset=asset, source_size=info.size)
    upload.status = "asset_created"
    db_session.commit()


def cancel_upload(*, db_session: Session, upload: Upload, path: Path | None) -> None:
    """tus termination: the staged bytes (path None: kept elsewhere) and the never-created asset go away."""
    asset = assets.get_asset(db_session=db_session, asset_id=upload.asset_id)
    if path is not None:
        path.unlink(missing_ok=True)
    db_session.delete(upload)
    if asset is not None and asset.status == "waiting":
        db_session.delete(asset)
    db_session.commit()


def decode_metadata(header: str | None) -> dict[str, str]:
    """tus Upload-Metadata: comma-separated `key base64value` pairs, bounded, strict base64, unique keys."""
    if header and len(header) > MAX_METADATA_CHARS:
        raise UploadError(400, f"Upload-Metadata is {len(header)} characters; at most {MAX_METADATA_CHARS} are "
                          "accepted")
    result: dict[str, str] = {}
    for pair in (header or "").split(","):
        key, _, value = pair.strip().partition(" ")
        if not key:
            continue
        if not _METADATA_KEY.fullmatch(key) or key in result:
            raise UploadError(400, f"Upload-Metadata key {key[:64]!r} is not a unique printable ASCII key")
        try:
            result[key] = base64.b64decode(value, validate=True).decode("utf-8") if value else ""
        except (ValueError, UnicodeDecodeError) as exc:
            raise UploadError(400, f"Upload-Metadata value for {key!r} is not base64 UTF-8") from exc
    return result
