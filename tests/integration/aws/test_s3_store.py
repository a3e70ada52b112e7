"""The S3 ObjectStore passes the same contract as the local folder, against moto in server mode."""

from __future__ import annotations

import os

import pytest

from streamstack.aws import client
from streamstack.settings import Settings
from streamstack.storage.base import StorageUnavailable
from streamstack.storage.factory import open_store
from streamstack.storage.s3 import S3ObjectStore
from tests.contract.store_contract import ObjectStoreContract

FIVE_MIB = 5 * 1024 * 1024


class TestS3StoreContract(ObjectStoreContract):
    @pytest.fixture
    def store(self, aws: Settings) -> S3ObjectStore:
        return S3ObjectStore.from_settings(aws)


def test_factory_builds_the_s3_store_in_the_aws_profile(aws: Settings):
    store = open_store(aws)
    assert isinstance(store, S3ObjectStore) and store.bucket == aws.s3_bucket
    assert store.local_path("assets/a/x.m4s") is None
    store.ping()


def test_large_objects_go_up_in_parts_and_come_back_whole(aws: Settings):
    store = S3ObjectStore(client("s3", aws), aws.s3_bucket, part_size=FIVE_MIB)
    blocks = [os.urandom(1 << 20) for _ in range(11)]
    info = store.put("sources/large", iter(blocks))
    assert info.size == 11 << 20
    assert info.etag.endswith("-3")  # three parts: 5 + 5 + 1 MiB
    assert b"".join(store.get("sources/large")) == b"".join(blocks)
    assert store.head("sources/large").content_type == "application/octet-stream"


def test_a_failed_multipart_put_is_aborted_and_leaves_nothing(aws: Settings):
    store = S3ObjectStore(client("s3", aws), aws.s3_bucket, part_size=FIVE_MIB)

    def broken():
        yield os.urandom(FIVE_MIB)
        yield os.urandom(FIVE_MIB)
        raise OSError("source went away")

    with pytest.raises(OSError):
        store.put("sources/broken", broken())
    assert list(store.list("sources/")) == []
    uploads = client("s3", aws).list_multipart_uploads(Bucket=aws.s3_bucket)
    assert uploads.get("Uploads", []) == []


def test_hls_objects_get_their_content_types(aws: Settings):
    store = S3ObjectStore.from_settings(aws)
    store.put("assets/a/master.m3u8", [b"#EXTM3U\n"])
    store.put("assets/a/seg.m4s", [b"x"], content_type="video/iso.segment")
    assert store.head("assets/a/master.m3u8").content_type == "application/vnd.apple.mpegurl"
    assert store.head("assets/a/seg.m4s").content_type == "video/iso.segment"


def test_a_missing_bucket_is_unavailable_not_a_crash(aws: Settings):
    store = S3ObjectStore(client("s3", aws), "no-such-bucket-here")
    with pytest.raises(StorageUnavailable):
        store.ping()
    with pytest.raises(StorageUnavailable):
        store.put("assets/a/x", [b"x"])
