"""Object storage: the ObjectStore protocol and a factory that picks the adapter from Settings."""

from streamstack.storage.base import (
    InvalidKey,
    ObjectInfo,
    ObjectNotFound,
    ObjectStore,
    StorageUnavailable,
    validate_key,
)

__all__ = ["InvalidKey", "ObjectInfo", "ObjectNotFound", "ObjectStore", "StorageUnavailable", "validate_key"]
