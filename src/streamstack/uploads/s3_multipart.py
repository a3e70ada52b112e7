"""Where upload bytes go: the UploadBackend seam, with a local part file or S3 multipart behind it.

In the aws shape every source goes straight into an S3 multipart upload of `sources/<asset id>`:
- clients with presigned URLs PUT parts to S3 themselves (`POST /v1/uploads` answers with the
  multipart session, `POST /v1/uploads/{id}/complete` finishes it), so no byte passes the API;
- tus clients PATCH through the API as before: each full part goes to S3 at once, and the bytes of an
  unfinished part wait in the object `uploads/<upload id>.tail`, so any API replica can take the next
  PATCH. Completion (either way) creates the source object, whose S3 notification starts the encode.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from streamstack.db.base import utcnow
from streamstack.deps import get_platform, get_session
from streamstack.errors import Problem, not_found
from streamstack.keys.auth import require_scope
from streamstack.platform import Platform
from streamstack.storage.base import MultipartStore, ObjectNotFound
from streamstack.storage.keys import source_key
from streamstack.timestamps import UtcDateTime
from streamstack.uploads import service
from streamstack.uploads.models import Upload

PRESIGN_SECONDS = 6 * 3600  # URLs signed with task-role credentials stop working when those expire
MAX_PARTS = 10_000  # S3's limit per multipart upload
TAIL_PREFIX = "uploads/"


class PresignedPart(BaseModel):
    part_number: int
    url: str


class MultipartSession(BaseModel):
    """The direct-to-S3 half of `POST /v1/uploads`: PUT each part to its URL, then POST complete_url."""

    upload_id: str
    key: str
    part_size: int = Field(description="Every part but the last has exactly this many bytes.")
    parts: list[PresignedPart] = Field(description="Presigned PUT URLs, one per part of the declared size.")
    parts_url: str = Field(description="POST {\"part_numbers\": [...]} here for (more or fresh) part URLs.")
    complete_url: str = Field(description="POST here (no body) once every part is uploaded.")
    expires_at: UtcDateTime


class PartsRequest(BaseModel):
    part_numbers: list[int] = Field(min_length=1, max_length=1000)


class UploadBackend(Protocol):
    """What the upload views need from wherever the bytes are kept."""

    def begin(self, upload: Upload, *, size: int | None) -> MultipartSession | None:
        """Extra for the `POST /v1/uploads` answer: the presigned multipart session in S3, None locally."""
        ...

    def lock(self, upload_id: str) -> contextlib.AbstractContextManager[Any]:
        """Serialise PATCHes of one upload (a flock locally); yields the handle append/complete/cancel take."""
        ...

    async def append(self, handle: Any, *, upload: Upload, client_offset: int, body: AsyncIterator[bytes],
                     content_length: int | None, checksum: tuple[str, bytes] | None) -> int:
        """Write a PATCH body at the upload's offset; returns the new offset."""
        ...

    def complete(self, handle: Any, *, db_session: Session, upload: Upload) -> None:
        """Store the source object (its S3-style event starts the encode) and mark the asset preparing."""
        ...

    def cancel(self, handle: Any, *, db_session: Session, upload: Upload) -> None:
        """tus termination: staged bytes, the never-created asset and the upload go away."""
        ...


@dataclass
class LocalPartBackend:
    """The embedded shape: a part file per upload in uploads_dir, as uploads.service has always done."""

    platform: Platform

    def path(self, upload_id: str) -> Path:
        return service.part_path(self.platform.settings.uploads_dir, upload_id)

    def begin(self, upload: Upload, *, size: int | None) -> MultipartSession | None:
        return None

    @contextlib.contextmanager
    def lock(self, upload_id: str) -> Iterator[tuple[int, Path]]:
        path = self.path(upload_id)
        with service.locked_part(path) as fd:
            yield fd, path

    async def append(self, handle: tuple[int, Path], *, upload: Upload, client_offset: int,
                     body: AsyncIterator[bytes], content_length: int | None,
                     checksum: tuple[str, bytes] | None) -> int:
        return await service.append_chunk(fd=handle[0], upload=upload, client_offset=client_offset, body=body,
                                          content_length=content_length, checksum=checksum,
                                          max_bytes=self.platform.settings.max_upload_bytes)

    def complete(self, handle: tuple[int, Path], *, db_session: Session, upload: Upload) -> None:
        service.complete_upload(db_session=db_session, store=self.platform.store, upload=upload, path=handle[1])

    def cancel(self, handle: tuple[int, Path], *, db_session: Session, upload: Upload) -> None:
        service.cancel_upload(db_session=db_session, upload=upload, path=handle[1])


@dataclass
class S3MultipartBackend:
    """The aws shape: one S3 multipart upload per source, fed by presigned PUTs or by tus PATCHes."""

    platform: Platform
    store: MultipartStore

    @property
    def part_size(self) -> int:
        return self.store.part_size

    def begin(self, upload: Upload, *, size: int | None) -> MultipartSession:
        """Create the multipart upload and presign one URL per part of the declared size."""
        key = source_key(upload.asset_id)
        upload_id = self.store.create_multipart(key, content_type="application/octet-stream")
        count = 0 if size is None else max(1, math.ceil(size / self.part_size))
        if count > MAX_PARTS:
            raise Problem(413, "Content Too Large", f"{size} bytes need more than {MAX_PARTS} parts")
        base = f"{self.platform.settings.api_base_url}/v1/uploads/{upload.id}"
        return MultipartSession(
            upload_id=upload_id, key=key, part_size=self.part_size,
            parts=self.presign(key, upload_id, range(1, count + 1)),
            parts_url=f"{base}/parts", complete_url=f"{base}/complete",
            expires_at=utcnow() + timedelta(seconds=PRESIGN_SECONDS),
        )

    def presign(self, key: str, upload_id: str, numbers: Any) -> list[PresignedPart]:
        return [PresignedPart(part_number=n, url=self.store.presign_upload_part(key, upload_id, n,
                                                                                 expires_in=PRESIGN_SECONDS))
                for n in numbers]

    def session(self, upload: Upload) -> tuple[str, str]:
        """(source key, S3 UploadId) of an upload, creating the multipart upload on first use."""
        key = source_key(upload.asset_id)
        return key, self.store.find_multipart(key) or self.store.create_multipart(key)

    def tail_key(self, upload_id: str) -> str:
        return f"{TAIL_PREFIX}{upload_id}.tail"

    def lock(self, upload_id: str) -> contextlib.AbstractContextManager[None]:
        """No cross-replica lock: tus's Upload-Offset check (against the catalog) refuses a racing PATCH."""
        return contextlib.nullcontext()

    async def append(self, handle: None, *, upload: Upload, client_offset: int, body: AsyncIterator[bytes],
                     content_length: int | None, checksum: tuple[str, bytes] | None) -> int:
        """Full parts go to S3 as they fill; the unfinished part is saved as the tail (kept on disconnect)."""
        room = service.check_chunk(upload=upload, client_offset=client_offset, content_length=content_length,
                                   max_bytes=self.platform.settings.max_upload_bytes)
        key, upload_id = self.session(upload)
        part_number = upload.offset // self.part_size
        buffer = bytearray(self.read_tail(upload))
        digest = service.CHECKSUM_ALGORITHMS[checksum[0]]() if checksum else None
        written = 0
        try:
            async for chunk in body:
                if written + len(chunk) > room:
                    raise service.UploadError(413, f"the chunk goes past Upload-Length {upload.length}")
                buffer += chunk
                written += len(chunk)
                if digest:
                    digest.update(chunk)
                while len(buffer) >= self.part_size:
                    part_number += 1
                    self.store.upload_part(key, upload_id, part_number, bytes(buffer[: self.part_size]))
                    del buffer[: self.part_size]
        except service.UploadError:
            raise
        except Exception:
            if checksum:
                raise
        if digest and checksum and digest.digest() != checksum[1]:
            raise service.UploadError(460, "Upload-Checksum does not match the chunk; it was discarded")
        self.store.put(self.tail_key(upload.id), [bytes(buffer)])
        return upload.offset + written

    def read_tail(self, upload: Upload) -> bytes:
        """The bytes of the unfinished part; their count must match the catalog's offset."""
        expected = upload.offset % self.part_size
        try:
            tail = b"".join(self.store.get(self.tail_key(upload.id)))
        except ObjectNotFound:
            tail = b""
        if len(tail) != expected:
            raise service.UploadError(409, "the upload's staged bytes are out of step; HEAD and resume")
        return tail

    def complete(self, handle: None, *, db_session: Session, upload: Upload) -> None:
        """The tail becomes the last part, then CompleteMultipartUpload creates the source object."""
        key, upload_id = self.session(upload)
        parts = self.store.list_parts(key, upload_id)
        tail = self.read_tail(upload) if upload.length is not None and upload.offset == upload.length else b""
        if tail or not parts:
            parts.append(self.store.upload_part(key, upload_id, upload.offset // self.part_size + 1, tail))
        self.finish(db_session=db_session, upload=upload, key=key, upload_id=upload_id, parts=parts)

    def allowed_bytes(self, upload: Upload) -> int:
        """The declared length, never more than the size limit (which may have dropped since)."""
        limit = self.platform.settings.max_upload_bytes
        return limit if upload.length is None else min(upload.length, limit)

    def max_part_number(self, upload: Upload) -> int:
        """Parts past the allowed bytes could only hold bytes that must not be stored."""
        return min(MAX_PARTS, max(1, math.ceil(self.allowed_bytes(upload) / self.part_size)))

    def complete_presigned(self, *, db_session: Session, upload: Upload) -> None:
        """The client PUT every part itself: complete with what S3 lists, unless that is more than allowed."""
        key, upload_id = self.session(upload)
        parts = self.store.list_parts(key, upload_id)
        if not parts:
            raise Problem(409, "Conflict", "no part has been uploaded yet")
        size = sum(int(part["Size"]) for part in parts)
        if size > (allowed := self.allowed_bytes(upload)):
            self.store.abort_multipart(key, upload_id)
            raise Problem(413, "Content Too Large", f"the parts hold {size} bytes, more than the {allowed} this "
                          "upload allows; they were discarded (upload the parts again)")
        self.finish(db_session=db_session, upload=upload, key=key, upload_id=upload_id, parts=parts)

    def finish(self, *, db_session: Session, upload: Upload, key: str, upload_id: str,
               parts: list[dict[str, Any]]) -> None:
        self.store.complete_multipart(key, upload_id, parts)
        info = self.store.head(key)
        service.mark_source_stored(db_session=db_session, upload=upload, info=info)
        self.store.delete(self.tail_key(upload.id))

    def cancel(self, handle: None, *, db_session: Session, upload: Upload) -> None:
        key = source_key(upload.asset_id)
        if (upload_id := self.store.find_multipart(key)) is not None:
            self.store.abort_multipart(key, upload_id)
        self.store.delete(self.tail_key(upload.id))
        service.cancel_upload(db_session=db_session, upload=upload, path=None)


def open_upload_backend(platform: Platform) -> UploadBackend:
    """S3 multipart when the store takes multipart uploads, else part files in uploads_dir."""
    if isinstance(platform.store, MultipartStore):
        return S3MultipartBackend(platform, platform.store)
    return LocalPartBackend(platform)


# --- direct-upload endpoints (aws shape) ----------------------------------------------------------------

router = APIRouter(tags=["uploads"])


def s3_backend(platform: Platform) -> S3MultipartBackend:
    backend = open_upload_backend(platform)
    if not isinstance(backend, S3MultipartBackend):
        raise Problem(404, "Not Found", "direct-to-S3 uploads exist only when the object store is S3")
    return backend


def waiting_upload(db_session: Session, upload_id: str) -> Upload:
    upload = db_session.get(Upload, upload_id)
    if upload is None:
        raise not_found("upload", upload_id)
    if upload.status != "waiting":
        raise Problem(409, "Conflict", "this upload is already complete")
    return upload


@router.post("/v1/uploads/{upload_id}/parts", response_model=list[PresignedPart],
             dependencies=[Depends(require_scope("write"))])
def presign_parts(upload_id: str, body: PartsRequest, db_session: Session = Depends(get_session),
                  platform: Platform = Depends(get_platform)) -> list[PresignedPart]:
    """Fresh presigned URLs for some parts (unknown size at creation, or expired URLs on resume)."""
    backend = s3_backend(platform)
    upload = waiting_upload(db_session, upload_id)
    if any(not 1 <= n <= MAX_PARTS for n in body.part_numbers):
        raise Problem(400, "Bad Request", f"part numbers go from 1 to {MAX_PARTS}")
    if max(body.part_numbers) > (last := backend.max_part_number(upload)):
        raise Problem(413, "Content Too Large", f"this upload allows {backend.allowed_bytes(upload)} bytes: "
                      f"at most {last} parts of {backend.part_size} bytes")
    key, s3_upload_id = backend.session(upload)
    return backend.presign(key, s3_upload_id, body.part_numbers)


@router.post("/v1/uploads/{upload_id}/complete", status_code=204, dependencies=[Depends(require_scope("write"))])
def complete_parts(upload_id: str, db_session: Session = Depends(get_session),
                   platform: Platform = Depends(get_platform)) -> None:
    """Finish a presigned multipart upload: the source object appears and its S3 notification starts encoding."""
    s3_backend(platform).complete_presigned(db_session=db_session, upload=waiting_upload(db_session, upload_id))
