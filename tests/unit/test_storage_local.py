"""The local ObjectStore passes the shared contract and emits S3-shaped events."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from streamstack.storage.events import object_keys_from_event, s3_object_created_event
from streamstack.storage.local import LocalObjectStore
from tests.contract.store_contract import ObjectStoreContract


class TestLocalStoreContract(ObjectStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> LocalObjectStore:
        return LocalObjectStore(tmp_path / "objects", "media")


def test_created_objects_emit_s3_notification_json(tmp_path: Path):
    seen = []
    store = LocalObjectStore(tmp_path, "media", on_created=lambda key, info: seen.append(
        s3_object_created_event("media", info)))
    store.put("sources/as1+x=y", [b"abc"])
    record = seen[0]["Records"][0]
    assert record["eventName"] == "ObjectCreated:Put"
    assert record["s3"]["bucket"]["name"] == "media"
    assert record["s3"]["object"]["key"] == "sources/as1%2Bx%3Dy"
    assert record["s3"]["object"]["size"] == 3
    assert object_keys_from_event(json.dumps(seen[0])) == [("media", "sources/as1+x=y")]


def test_a_failed_write_leaves_no_object_and_no_temp_file(tmp_path: Path):
    store = LocalObjectStore(tmp_path, "media")

    def broken():
        yield b"half"
        raise OSError("disk gone")

    with pytest.raises(OSError):
        store.put("assets/a/seg.m4s", broken())
    assert list(store.list("")) == []
    assert list((tmp_path / ".tmp").iterdir()) == []
