"""An unrecorded live session keeps only its DVR window: old segments leave the store, never while still named."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from streamstack.media.fmp4 import Fragment
from streamstack.media.live_packager import LivePackager, PackagingPlan
from tests.unit.media.llhls_rules import check_sequence

PLAN = PackagingPlan(part_target=0.5, segment_target=2.0, window_seconds=4.0)
KEEP_SECONDS = 2 * PLAN.window_seconds + PLAN.segment_target  # RFC 8216bis 6.2.2: segment + playlist duration


class StoreLikeSink:
    """Objects as a store holds them; every playlist written may name only objects that exist at that moment."""

    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.deleted: list[str] = []
        self.playlists: dict[str, list[str]] = {}

    def put(self, name: str, data: bytes, content_type: str) -> None:
        if name.endswith(".m3u8"):
            text = data.decode()
            folder = name.rsplit("/", 1)[0]
            for uri in re.findall(r'URI="([^"]+)"', text) + [x for x in text.splitlines() if x and x[0] != "#"]:
                if not uri.startswith("../") and uri != self.hint(text):
                    assert f"{folder}/{uri}" in self.objects, f"{name} names {uri}, which is gone"
            self.playlists.setdefault(name, []).append(text)
        self.objects[name] = data

    def delete(self, name: str) -> None:
        self.deleted.append(name)
        self.objects.pop(name, None)

    def get(self, name: str) -> bytes | None:
        return self.objects.get(name)

    @staticmethod
    def hint(text: str) -> str | None:
        match = re.search(r'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+)"', text)
        return match.group(1) if match else None


def publish(packager: LivePackager, seconds: float, start: float = 0.0) -> None:
    """Half-second fragments, a keyframe every 2 s, on both renditions."""
    for name in packager.renditions:
        packager.renditions[name].start_connection(b"init")
    for index in range(int(seconds / 0.5)):
        fragment = Fragment(b"m" * 100, start + index * 0.5, 0.5, independent=index % 4 == 0)
        for rendition in packager.renditions.values():
            rendition.add(fragment)


def test_segments_out_of_the_window_leave_the_store_once_no_playlist_can_name_them() -> None:
    sink = StoreLikeSink()
    packager = LivePackager(["360p", "180p"], sink, PLAN, recording=False,
                            clock=lambda: datetime(2026, 11, 30, tzinfo=UTC))  # fmt: skip
    publish(packager, 20)
    publish(packager, 14)  # a reconnect: a new init segment, a discontinuity
    segments = sorted(int(n.split("/")[1].removesuffix(".m4s")) for n in sink.objects
                      if re.fullmatch(r"360p/\d+\.m4s", n))  # fmt: skip
    assert segments == list(range(segments[0], 17)), "a contiguous run up to the newest segment"
    assert (17 - segments[0]) * PLAN.segment_target <= KEEP_SECONDS + PLAN.segment_target
    assert "360p/0.m4s" in sink.deleted and "360p/0.0.m4s" in sink.deleted, "segments go with their parts"
    assert "360p/init0.mp4" in sink.deleted and "360p/init1.mp4" in sink.objects, "an init goes with its last segment"
    assert not any(name.endswith("recording.m3u8") for name in sink.objects), "no recording playlist"
    for name in ("360p/ll.m3u8", "360p/standard.m3u8", "180p/ll_skip.m3u8"):
        check_sequence(sink.playlists[name], low_latency=not name.endswith("standard.m3u8"))
    final = sink.playlists["360p/ll.m3u8"][-1]
    assert "#EXT-X-DISCONTINUITY-SEQUENCE:1" in final, "the reconnect's discontinuity slid out, still counted"
    packager.finish()
    assert sink.playlists["360p/standard.m3u8"][-1].rstrip().endswith("#EXT-X-ENDLIST")


def test_a_recording_keeps_every_segment_and_init_segment() -> None:
    sink = StoreLikeSink()
    packager = LivePackager(["360p"], sink, PLAN)
    publish(packager, 20)
    assert not [name for name in sink.deleted if re.fullmatch(r"360p/\d+\.m4s|360p/init\d+\.mp4", name)]
    assert "360p/0.m4s" in sink.objects and "360p/recording.m3u8" in sink.objects
