"""Cutting HLS playlists for clips (pure): timelines, covering segments, the clip's playlists and master."""

from __future__ import annotations

import pytest

from streamstack.media.clips import (
    NotClippable,
    clip_master,
    clip_playlist,
    covering,
    media_playlist_uris,
    parse_source_playlist,
    resolve,
)

VOD_MASTER = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-START:TIME-OFFSET=0,PRECISE=YES
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Default",DEFAULT=YES,URI="audio.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",URI="tracks/tr_1.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=900000,CODECS="avc1.64001e,mp4a.40.2",RESOLUTION=640x360,AUDIO="audio",SUBTITLES="subs"
360p.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=90000,URI="360p_iframes.m3u8"
"""

RECORDING = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:2
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-DISCONTINUITY-SEQUENCE:0
#EXT-X-MAP:URI="init0.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T18:00:00.000Z
#EXTINF:2.00000,
0.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T18:00:02.000Z
#EXTINF:2.00000,
1.m4s
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T18:00:09.000Z
#EXTINF:2.00000,
2.m4s
#EXT-X-PROGRAM-DATE-TIME:2026-11-30T18:00:11.000Z
#EXTINF:1.50000,
3.m4s
"""


def test_segments_get_their_place_on_the_recording_timeline_across_a_reconnect() -> None:
    playlist = parse_source_playlist(RECORDING)
    assert [(s.uri, s.start, s.init_uri, s.discontinuity) for s in playlist.segments] == [
        ("0.m4s", 0.0, "init0.mp4", False), ("1.m4s", 2.0, "init0.mp4", False),
        ("2.m4s", 4.0, "init1.mp4", True), ("3.m4s", 6.0, "init1.mp4", False),
    ]  # fmt: skip
    assert playlist.duration == 7.5 and playlist.target_duration == 2


@pytest.mark.parametrize(("start", "end", "uris"), [
    (0, 2, ["0.m4s"]), (0.5, 2.5, ["0.m4s", "1.m4s"]), (2.05, 3.95, ["1.m4s"]), (3, 7.5, ["1.m4s", "2.m4s", "3.m4s"]),
])  # fmt: skip
def test_the_covering_segments_hold_the_whole_range(start: float, end: float, uris: list[str]) -> None:
    assert [s.uri for s in covering(parse_source_playlist(RECORDING), start, end)] == uris


def test_a_clip_across_a_reconnect_keeps_its_discontinuity_and_new_map() -> None:
    playlist = parse_source_playlist(RECORDING)
    text = clip_playlist(playlist, covering(playlist, 3, 6))
    assert text.splitlines()[-1] == "#EXT-X-ENDLIST" and "#EXT-X-PLAYLIST-TYPE:VOD" in text
    body = text[text.index("#EXT-X-MAP"):]
    assert body.splitlines()[:4] == ['#EXT-X-MAP:URI="init0.mp4"', "#EXT-X-PROGRAM-DATE-TIME:2026-11-30T18:00:02.000Z",
                                     "#EXTINF:2.00000,", "1.m4s"]  # fmt: skip
    assert "#EXT-X-DISCONTINUITY\n#EXT-X-MAP:URI=\"init1.mp4\"" in text
    first_only = clip_playlist(playlist, covering(playlist, 4, 6))
    assert "#EXT-X-DISCONTINUITY" not in first_only, "a clip that starts after the reconnect has none"


def test_a_vod_master_keeps_its_audio_group_and_loses_text_tracks_and_iframes() -> None:
    assert media_playlist_uris(VOD_MASTER) == ["audio.m3u8", "360p.m3u8"]
    master = clip_master(VOD_MASTER)
    assert "SUBTITLES" not in master and "I-FRAME" not in master and 'URI="audio.m3u8"' in master
    assert "360p.m3u8" in master


def test_playlists_a_clip_cannot_copy_are_refused() -> None:
    with pytest.raises(NotClippable):
        parse_source_playlist(RECORDING.replace("\n0.m4s", "\n#EXT-X-BYTERANGE:10@0\n0.m4s"))
    with pytest.raises(NotClippable):
        parse_source_playlist(RECORDING.replace("#EXT-X-MAP", '#EXT-X-KEY:METHOD=AES-128,URI="k"\n#EXT-X-MAP'))
    assert resolve("360p/recording.m3u8", "0.m4s") == "360p/0.m4s"
    for outside in ("../../as_other/360p/0.m4s", "/etc/passwd", "https://example.com/0.m4s"):
        with pytest.raises(NotClippable):
            resolve("360p/recording.m3u8", outside)
