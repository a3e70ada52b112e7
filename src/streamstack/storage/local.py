"""Local-folder ObjectStore: atomic rename-into-place writes, S3-style ObjectCreated events."""

from __future__ import annotations

import hashlib
import mimetypes
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from streamstack.storage.base import Changed, ObjectInfo, ObjectNotFound, StorageUnavailable, validate_key

ObjectCreatedHook = Callable[[str, ObjectInfo], None]

CONTENT_TYPES = {
    ".m3u8": "application/vnd.apple.mpegurl",
    ".m4s": "video/iso.segment",
    ".mp4": "video/mp4",
    ".ts": "video/mp2t",
    ".vtt": "text/vtt",
    ".jpg": "image/jpeg",
    ".json": "application/json",
}


def guess_content_type(key: str) -> str:
    """HLS types first: the stdlib does not know .m3u8 or .m4s."""
    suffix = Path(key).suffix.lower()
    return CONTENT_TYPES.get(suffix) or mimetypes.guess_type(key)[0] or "application/octet-stream"


class LocalObjectStore:
    """Objects are files under root; a write goes to a temp file in .tmp and is renamed into place."""

    def __init__(self, root: Path, bucket: str = "streamstack-media", on_created: ObjectCreatedHook | None = None):
        self.root = Path(root).resolve()
        self.bucket = bucket
        self.on_created = on_created
        self._tmp = self.root / ".tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)

    def _path(self, key: str) -> Path:
        path = (self.root / validate_key(key)).resolve()
        if self.root not in path.parents:
            raise ValueError(f"invalid object key: {key!r}")
        return path

    def put(self, key: str, chunks: Iterable[bytes], *, content_type: str | None = None) -> ObjectInfo:
        target = self._path(key)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        try:
            with os.fdopen(fd, "wb") as handle:
                for chunk in chunks:
                    handle.write(chunk)
                handle.flush()
                os.fsync(handle.fileno())
            return self._commit(key, Path(tmp_name), target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def put_file(self, key: str, path: Path, *, content_type: str | None = None) -> ObjectInfo:
        """Copy into the temp area then rename, so the caller's file stays and readers see all or nothing."""
        target = self._path(key)
        fd, tmp_name = tempfile.mkstemp(dir=self._tmp)
        os.close(fd)
        try:
            shutil.copyfile(path, tmp_name)
            return self._commit(key, Path(tmp_name), target)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise

    def _commit(self, key: str, tmp: Path, target: Path) -> ObjectInfo:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp, target)
        except OSError as exc:
            raise StorageUnavailable(f"could not store object: {exc.strerror}") from exc
        info = self.head(key)
        if self.on_created is not None:
            self.on_created(key, info)
        return info

    def get(self, key: str, *, start: int = 0, end: int | None = None, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        path = self._path(key)
        try:
            handle = path.open("rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        return self._stream(handle, start, end, chunk_size)

    @staticmethod
    def _stream(handle, start: int, end: int | None, chunk_size: int) -> Iterator[bytes]:  # type: ignore[no-untyped-def]
        with handle:
            handle.seek(start)
            remaining = None if end is None else end - start + 1
            while remaining is None or remaining > 0:
                chunk = handle.read(chunk_size if remaining is None else min(chunk_size, remaining))
                if not chunk:
                    return
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk

    def head(self, key: str) -> ObjectInfo:
        path = self._path(key)
        try:
            stat = path.stat()
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        if not path.is_file():
            raise ObjectNotFound(key)
        return ObjectInfo(key, stat.st_size, _etag(stat), stat.st_mtime, guess_content_type(key))

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        """open + fstat, and the read only when the ETag moved: the version compared is the version read."""
        path = self._path(key)
        try:
            handle = path.open("rb")
        except (FileNotFoundError, IsADirectoryError) as exc:
            raise ObjectNotFound(key) from exc
        with handle:
            stat = os.fstat(handle.fileno())
            if _etag(stat) == etag:
                return None
            info = ObjectInfo(key, stat.st_size, _etag(stat), stat.st_mtime, guess_content_type(key))
            return Changed(info, handle.read(), written_at=stat.st_ctime)  # the rename into place: when it appeared

    def delete(self, key: str) -> None:
        path = self._path(key)
        path.unlink(missing_ok=True)
        self._prune_empty_dirs(path.parent)

    def _prune_empty_dirs(self, directory: Path) -> None:
        while directory != self.root and self.root in directory.parents:
            try:
                directory.rmdir()
            except OSError:
                return
            directory = directory.parent

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.root
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = sorted(d for d in dirnames if not (dirpath == str(base) and d == ".tmp"))
            for name in sorted(filenames):
                key = Path(dirpath, name).relative_to(base).as_posix()
                if key.startswith(prefix):
                    try:
                        yield self.head(key)
                    except ObjectNotFound:
                        continue

    def local_path(self, key: str) -> Path | None:
        return self._path(key)

    def ping(self) -> None:
        if not os.access(self.root, os.W_OK):
            raise StorageUnavailable("object store folder is not writable")


def _etag(stat: os.stat_result) -> str:
    """Cheap strong-enough ETag from inode, size and mtime: objects are immutable once renamed in."""
    digest = hashlib.md5(f"{stat.st_ino}-{stat.st_size}-{stat.st_mtime_ns}".encode(), usedforsecurity=False)
    return digest.hexdigest()
