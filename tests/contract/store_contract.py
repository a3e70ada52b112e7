"""The ObjectStore contract: every adapter (local folder, S3) must pass these tests unchanged."""

from __future__ import annotations

import os
import threading
import time

import pytest

from streamstack.storage.base import ConditionalStore, InvalidKey, ObjectNotFound


class ObjectStoreContract:
    """Subclass with a `store` fixture returning a fresh, empty store."""

    def test_put_get_head_round_trip(self, store):
        info = store.put("assets/a1/master.m3u8", [b"#EXTM3U\n", b"#EXT-X-VERSION:7\n"])
        assert info.size == 25
        assert b"".join(store.get("assets/a1/master.m3u8")) == b"#EXTM3U\n#EXT-X-VERSION:7\n"
        head = store.head("assets/a1/master.m3u8")
        assert head.size == 25 and head.etag

    def test_streaming_put_of_many_chunks_and_ranged_get(self, store):
        chunks = [bytes([i]) * 65536 for i in range(40)]  # 2.5 MiB, never joined by the test
        store.put("sources/big", iter(chunks))
        assert store.head("sources/big").size == 40 * 65536
        ranged = b"".join(store.get("sources/big", start=65530, end=65541))
        assert ranged == bytes([0]) * 6 + bytes([1]) * 6
        tail = b"".join(store.get("sources/big", start=40 * 65536 - 3))
        assert tail == bytes([39]) * 3

    def test_get_streams_in_bounded_chunks(self, store):
        store.put("sources/blob", [os.urandom(3 << 20)])
        sizes = [len(c) for c in store.get("sources/blob", chunk_size=1 << 20)]
        assert max(sizes) <= 1 << 20 and sum(sizes) == 3 << 20

    def test_missing_keys(self, store):
        with pytest.raises(ObjectNotFound):
            store.head("assets/none")
        with pytest.raises(ObjectNotFound):
            b"".join(store.get("assets/none"))
        store.delete("assets/none")

    def test_list_by_prefix_and_delete(self, store):
        for key in ("assets/a/1.m4s", "assets/a/2.m4s", "assets/ab/1.m4s", "sources/a"):
            store.put(key, [b"x"])
        assert sorted(i.key for i in store.list("assets/a/")) == ["assets/a/1.m4s", "assets/a/2.m4s"]
        store.delete("assets/a/1.m4s")
        assert sorted(i.key for i in store.list("assets/")) == ["assets/a/2.m4s", "assets/ab/1.m4s"]

    def test_a_conditional_read_moves_a_body_only_when_the_object_changed(self, store):
        assert isinstance(store, ConditionalStore)
        with pytest.raises(ObjectNotFound):
            store.get_if_changed("assets/a/ll.m3u8", None)
        store.put("assets/a/ll.m3u8", [b"#EXTM3U\n#1\n"])
        first = store.get_if_changed("assets/a/ll.m3u8", None)
        assert first is not None and first.body == b"#EXTM3U\n#1\n"
        assert first.info.etag == store.head("assets/a/ll.m3u8").etag and first.info.size == 11
        assert store.get_if_changed("assets/a/ll.m3u8", first.info.etag) is None, "unchanged: no body"
        store.put("assets/a/ll.m3u8", [b"#EXTM3U\n#2\n"])
        second = store.get_if_changed("assets/a/ll.m3u8", first.info.etag)
        assert second is not None and second.body == b"#EXTM3U\n#2\n" and second.info.etag != first.info.etag
        if second.written_at is not None:  # a store that dates its writes to the millisecond dates this one now
            assert abs(second.written_at - time.time()) < 5

    def test_overwrite_replaces_whole_object(self, store):
        store.put("assets/a/index.m3u8", [b"old-old-old"])
        store.put("assets/a/index.m3u8", [b"new"])
        assert b"".join(store.get("assets/a/index.m3u8")) == b"new"

    @pytest.mark.parametrize("key", ["../etc/passwd", "/etc/passwd", "assets/../../x", "a//b", "", "a/./b",
                                     "a\\b", "a/b/"])
    def test_keys_that_could_escape_are_refused(self, store, key):
        with pytest.raises(InvalidKey):
            store.put(key, [b"x"])

    def test_readers_never_see_a_half_written_object(self, store):
        store.put("assets/a/seg.m4s", [b"A" * 200_000])
        stop = threading.Event()
        torn = []

        def reader():
            while not stop.is_set():
                data = b"".join(store.get("assets/a/seg.m4s"))
                if len(set(data)) != 1 or len(data) != 200_000:
                    torn.append(len(data))

        thread = threading.Thread(target=reader)
        thread.start()
        for i in range(20):
            letter = bytes([66 + i % 20])
            store.put("assets/a/seg.m4s", (letter * 20_000 for _ in range(10)))
        stop.set()
        thread.join()
        assert torn == []

    def test_put_file(self, store, tmp_path):
        source = tmp_path / "clip.bin"
        source.write_bytes(b"0123456789")
        store.put_file("sources/clip", source)
        assert b"".join(store.get("sources/clip", start=2, end=4)) == b"234"
        assert source.exists()
