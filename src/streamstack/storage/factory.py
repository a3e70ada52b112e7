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


def open_edge_origin(settings: Settings, store: ObjectStore) -> ObjectStore:
    """What the edge reads objects from: another edge (the shield) when edge_origin_url is set, else the store."""
    if not settings.edge_origin_url:
        return store
    if settings.edge_origin_token is None:
        raise ValueError("edge_origin_url needs edge_origin_token (the shield answers only with it)")
    from streamstack.storage.edge_origin import EdgeOriginStore

    return EdgeOriginStore(settings.edge_origin_url, settings.edge_origin_token.get_secret_value(), store.bucket)
