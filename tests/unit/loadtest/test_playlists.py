"""The simulated player reads the packager's own playlists as hls.js does: positions, parts, where to start."""

from __future__ import annotations

from datetime import UTC, datetime

from loadtest.playlists import Variant, media_playlist, pick_variant, variants

from streamstack.media.llhls import LivePlaylist, LiveSegment, Part, render_low_latency, render_standard

MASTER = """#EXTM3U
#EXT-X-STREAM-INF:BANDWIDTH=3500000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
pb/720p/ll.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"
pb/360p/ll.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=1500000,RESOLUTION=854x480,CODECS="avc1.64001e,mp4a.40.2"
pb/480p/ll.m3u8
"""


def live_playlist(complete_segments: int, open_parts: int) -> LivePlaylist:
    """Segments of four 0.5 s parts (the packager's model), the last one still open."""
    playlist = LivePlaylist(2.0, 0.5, 60.0)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    for msn in range(complete_segments + 1):
        count = 4 if msn < complete_segments else open_parts
        segment = LiveSegment(msn, "init0.mp4", now, parts=[Part(f"{msn}.{i}.m4s", 0.5, i == 0) for i in range(count)])
        if msn < complete_segments:
            segment.uri = f"{msn}.m4s"
        playlist.segments.append(segment)
    return playlist


def test_variants_are_ordered_and_picked_within_the_bandwidth() -> None:
    found = variants(MASTER)
    assert [v.uri for v in found] == ["pb/720p/ll.m3u8", "pb/480p/ll.m3u8", "pb/360p/ll.m3u8"]
    assert pick_variant(found, 8_000_000).uri == "pb/720p/ll.m3u8"
    assert pick_variant(found, 3_000_000).uri == "pb/480p/ll.m3u8"
    assert pick_variant(found, 500_000).uri == "pb/360p/ll.m3u8"  # nothing fits: the lowest
    assert pick_variant([Variant("a", 1)], 0).uri == "a"


def test_parts_take_their_position_from_the_playlist() -> None:
    text = render_low_latency(live_playlist(3, 2), preload_hint="3.2.m4s")
    playlist = media_playlist(text)
    assert playlist.part_target == 0.5 and playlist.part_hold_back >= 1.5 and playlist.init_uri == "init0.mp4"
    assert [s.msn for s in playlist.segments] == [0, 1, 2]
    assert playlist.parts[-1].position == (3, 1) and playlist.parts[-1].uri == "3.1.m4s"
    assert all(part.uri == f"{part.msn}.{part.index}.m4s" for part in playlist.parts)
    assert playlist.complete(2) and not playlist.complete(3)


def test_the_standard_playlist_lists_complete_segments_only() -> None:
    playlist = media_playlist(render_standard(live_playlist(3, 2)))
    assert [s.uri for s in playlist.segments] == ["0.m4s", "1.m4s", "2.m4s"] and not playlist.parts
    assert not playlist.ended and playlist.target == 2


def test_a_reload_read_from_a_segment_on_gives_the_same_positions_as_the_whole_playlist() -> None:
    text = render_low_latency(live_playlist(12, 3), preload_hint="12.3.m4s")
    whole = media_playlist(text)
    for from_msn in (0, 5, 11, 12):  # up to the open segment: where a player can be
        tail = media_playlist(text, from_msn=from_msn)
        assert [s.msn for s in tail.segments] == [s.msn for s in whole.segments if s.msn >= from_msn]
        assert tail.parts == [part for part in whole.parts if part.msn >= from_msn]
        assert tail.complete(11) == (from_msn <= 11)
    assert media_playlist(text, from_msn=11).parts[-1].position == (12, 2)
