"""Builds the configured ObjectStore; the only place that names a concrete adapter."""

from __future__ import annotations

from streamstack.settings import Settings
from streamstack.storage.base import ObjectStore
from streamstack.storage.local import ObjectCreatedHook


def open_store(settings: Settings, *, on_created: ObjectCreatedHook | None = None) -> ObjectStore:
    """Local folder or S3; in S3 the bucket notification replaces on_created."""
    if settings.resolved_storage_backend == "s3":
        from streamstack.storage.s3 import S3ObjectStore  # type: ignore[import-not-found]

        return S3ObjectStore.from_settings(settings)
    from streamstack.storage.local import LocalObjectStore

    return LocalObjectStore(settings.objects_dir, settings.s3_bucket, on_created=on_created)
