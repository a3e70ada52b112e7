"""S3 ObjectStore (boto3): streaming multipart puts, ranged gets; S3 itself makes every write atomic.

Object-created events come from the bucket's notification configuration (S3 -> SQS), not from this
adapter, so it takes no on_created hook.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from streamstack.aws import client, error_code
from streamstack.settings import Settings
from streamstack.storage.base import Changed, ObjectInfo, ObjectNotFound, StorageUnavailable, validate_key
from streamstack.storage.local import guess_content_type

T = TypeVar("T")

PART_SIZE = 8 * 1024 * 1024  # S3's minimum part is 5 MiB; 8 MiB parts reach 80 GB within 10,000 parts
FILE_READ_SIZE = 1 << 20
NOT_FOUND_CODES = {"404", "NoSuchKey", "NotFound"}
NOT_MODIFIED_CODES = {"304", "NotModified"}


class S3ObjectStore:
    """Objects in one S3 bucket; never holds more than one part of an object in memory."""

    def __init__(self, s3_client: Any, bucket: str, *, part_size: int = PART_SIZE) -> None:
        self.client = s3_client
        self.bucket = bucket
        self.part_size = part_size

    @classmethod
    def from_settings(cls, settings: Settings) -> S3ObjectStore:
        """The bucket from settings, with the shared boto3 client configuration (region, endpoint, retries)."""
        return cls(client("s3", settings), settings.s3_bucket)

    def __repr__(self) -> str:
        return f"S3ObjectStore({self.bucket!r})"

    def put(self, key: str, chunks: Iterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        """One PutObject for small objects, a multipart upload (aborted on failure) past one part."""
        validate_key(key)
        content_type = content_type or guess_content_type(key)
        parts = _rechunk(chunks, self.part_size)
        first = next(parts, b"")
        second = next(parts, None)
        if second is None:
            self._call(lambda: self.client.put_object(Bucket=self.bucket, Key=key, Body=first,
                                                      ContentType=content_type))
        else:
            self._multipart(key, _prepend([first, second], parts), content_type)
        return self.head(key)

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> ObjectInfo:
        """Stream a local file; the file stays where it is."""
        with path.open("rb") as handle:
            return self.put(key, iter(lambda: handle.read(FILE_READ_SIZE), b""), content_type=content_type)

    def _multipart(self, key: str, parts: Iterator[bytes], content_type: str) -> None:
        upload_id = self.create_multipart(key, content_type=content_type)
        try:
            done = [self.upload_part(key, upload_id, number, body) for number, body in enumerate(parts, 1)]
            self.complete_multipart(key, upload_id, done)
        except BaseException:
            self.abort_multipart(key, upload_id)
            raise

    # --- multipart operations, shared by streaming puts and direct uploads (uploads.s3_multipart) ----------

    def create_multipart(self, key: str, *, content_type: str | None = None) -> str:
        """CreateMultipartUpload; returns the UploadId."""
        validate_key(key)
        content_type = content_type or guess_content_type(key)
        created = self._call(lambda: self.client.create_multipart_upload(
            Bucket=self.bucket, Key=key, ContentType=content_type))
        return str(created["UploadId"])

    def upload_part(self, key: str, upload_id: str, number: int, body: bytes) -> dict[str, Any]:
        """UploadPart; returns the {PartNumber, ETag} entry CompleteMultipartUpload needs."""
        response = self._call(lambda: self.client.upload_part(
            Bucket=self.bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body), key)
        return {"PartNumber": number, "ETag": response["ETag"]}

    def complete_multipart(self, key: str, upload_id: str, parts: list[dict[str, Any]]) -> None:
        """CompleteMultipartUpload with the parts in order (ListParts entries are accepted as they are)."""
        ordered = sorted(parts, key=lambda p: p["PartNumber"])
        done = [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in ordered]
        self._call(lambda: self.client.complete_multipart_upload(
            Bucket=self.bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}), key)

    def abort_multipart(self, key: str, upload_id: str) -> None:
        """Best effort: the bucket's lifecycle rule removes incomplete uploads that an abort misses."""
        with contextlib.suppress(ClientError, BotoCoreError):
            self.client.abort_multipart_upload(Bucket=self.bucket, Key=key, UploadId=upload_id)

    def list_parts(self, key: str, upload_id: str) -> list[dict[str, Any]]:
        """Every uploaded part ({PartNumber, ETag, Size}), page by page; a missing upload is ObjectNotFound."""
        paginator = self.client.get_paginator("list_parts")
        pages = self._call(lambda: iter(paginator.paginate(Bucket=self.bucket, Key=key, UploadId=upload_id)), key)
        parts: list[dict[str, Any]] = []
        while (page := self._call(lambda: next(pages, None), key)) is not None:
            parts += page.get("Parts", [])
        return parts

    def find_multipart(self, key: str) -> str | None:
        """The UploadId of the newest unfinished multipart upload of exactly `key`, if any."""
        response = self._call(lambda: self.client.list_multipart_uploads(Bucket=self.bucket, Prefix=key))
        uploads = [u for u in response.get("Uploads", []) if u["Key"] == key]
        return max(uploads, key=lambda u: u["Initiated"])["UploadId"] if uploads else None

    def presign_upload_part(self, key: str, upload_id: str, number: int, *, expires_in: int) -> str:
        """A URL a client PUTs one part to, without credentials (signed locally: no request is made)."""
        return str(self.client.generate_presigned_url(
            "upload_part", Params={"Bucket": self.bucket, "Key": key, "UploadId": upload_id, "PartNumber": number},
            ExpiresIn=expires_in))

    def get(self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Stream bytes [start, end] with an HTTP Range; past the end yields nothing, as the local store does."""
        validate_key(key)
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if start or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            response = self._call(lambda: self.client.get_object(**request), key)
        except StorageUnavailable as exc:
            if error_code(exc.__cause__ or exc) == "InvalidRange":
                return iter(())
            raise
        return self._stream(response["Body"], chunk_size)

    def _stream(self, body: Any, chunk_size: int) -> Iterator[bytes]:
        with body:
            try:
                yield from body.iter_chunks(chunk_size)
            except (ClientError, BotoCoreError) as exc:
                raise StorageUnavailable(f"s3 read failed: {type(exc).__name__}") from exc

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        """One GetObject with If-None-Match: 304 (None) when unchanged, else the body (small objects: playlists)."""
        validate_key(key)
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": key}
        if etag is not None:
            request["IfNoneMatch"] = f'"{etag}"'
        try:
            response = self._call(lambda: self.client.get_object(**request), key)
        except StorageUnavailable as exc:
            if error_code(exc.__cause__ or exc) in NOT_MODIFIED_CODES:
                return None
            raise
        body = b"".join(self._stream(response["Body"], FILE_READ_SIZE))
        info = ObjectInfo(key, len(body), response["ETag"].strip('"'), response["LastModified"].timestamp(),
                          response.get("ContentType"))  # fmt: skip
        return Changed(info, body)

    def head(self, key: str) -> ObjectInfo:
        validate_key(key)
        response = self._call(lambda: self.client.head_object(Bucket=self.bucket, Key=key), key)
        return ObjectInfo(
            key=key,
            size=response["ContentLength"],
            etag=response["ETag"].strip('"'),
            last_modified=response["LastModified"].timestamp(),
            content_type=response.get("ContentType"),
        )

    def delete(self, key: str) -> None:
        """DeleteObject: deleting a missing key succeeds, as in S3."""
        validate_key(key)
        self._call(lambda: self.client.delete_object(Bucket=self.bucket, Key=key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every object under prefix, page by page (ListObjectsV2)."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = self._call(lambda: iter(paginator.paginate(Bucket=self.bucket, Prefix=prefix)))
        while (page := self._call(lambda: next(pages, None))) is not None:
            for item in page.get("Contents", []):
                yield ObjectInfo(item["Key"], item["Size"], item["ETag"].strip('"'),
                                 item["LastModified"].timestamp())

    def local_path(self, key: str) -> Path | None:
        """S3 objects have no local file: the edge streams them."""
        return None

    def ping(self) -> None:
        """HeadBucket: the bucket exists and the task role may use it."""
        self._call(lambda: self.client.head_bucket(Bucket=self.bucket))

    @staticmethod
    def _call(operation: Callable[[], T], key: str | None = None) -> T:
        """Map S3 errors: a missing key is ObjectNotFound, everything else StorageUnavailable (503)."""
        try:
            return operation()
        except ClientError as exc:
            code = error_code(exc)
            if key is not None and code in NOT_FOUND_CODES:
                raise ObjectNotFound(key) from exc
            raise StorageUnavailable(f"s3 request failed: {code or type(exc).__name__}") from exc
        except BotoCoreError as exc:
            raise StorageUnavailable(f"s3 unreachable: {type(exc).__name__}") from exc


def _rechunk(chunks: Iterable[bytes], size: int) -> Iterator[bytes]:
    """Regroup arbitrary chunks into parts of exactly `size` bytes (the last one shorter)."""
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    if buffer:
        yield bytes(buffer)


def _prepend(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest
