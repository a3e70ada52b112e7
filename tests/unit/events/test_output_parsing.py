"""What the metadata processor reads back from a job's outputs: master playlist attributes and sizes."""

from __future__ import annotations

import pytest

from streamstack.events.metadata import (
    aspect_ratio,
    media_playlist_size,
    object_key,
    output_duration,
    parse_master_playlist,
)
from streamstack.media.hls import AudioRendition, Variant, master_playlist

MEDIA_PLAYLIST = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="360p_init.mp4"
#EXTINF:4.000000,
360p_00000.m4s
#EXTINF:1.500000,
360p_00001.m4s
#EXT-X-ENDLIST
"""


def test_master_playlist_written_by_the_pipeline_parses_back_to_its_attributes():
    text = master_playlist(
        [Variant("360p.m3u8", 1_100_000, 800_000, "avc1.64001e", 640, 360, 25.0),
         Variant("240p.m3u8", 600_000, 450_000, "avc1.640015", 426, 240, 25.0)],
        AudioRendition("audio.m3u8", "mp4a.40.2", 2, 130_000, 128_000),
    )
    (top, top_uri), (low, low_uri) = parse_master_playlist(text)
    assert (top_uri, low_uri) == ("360p.m3u8", "240p.m3u8")
    assert top["BANDWIDTH"] == "1100000" and top["AVERAGE-BANDWIDTH"] == "800000"
    assert top["CODECS"] == "avc1.64001e,mp4a.40.2"
    assert top["RESOLUTION"] == "640x360" and float(top["FRAME-RATE"]) == 25.0
    assert top["AUDIO"] == "audio" and low["RESOLUTION"] == "426x240"


def test_rendition_size_is_init_plus_segments_listed_in_its_playlist():
    sizes = {"assets/a/360p_init.mp4": 800, "assets/a/360p_00000.m4s": 10_000, "assets/a/360p_00001.m4s": 4_000,
             "assets/a/240p_00000.m4s": 99_999, "assets/a/360p.m3u8": 300}
    assert media_playlist_size(MEDIA_PLAYLIST, "assets/a/360p.m3u8", sizes) == 14_800


def test_output_keys_must_be_in_our_bucket():
    assert object_key("s3://media/assets/a/master.m3u8", "media") == "assets/a/master.m3u8"
    with pytest.raises(ValueError, match="not in bucket"):
        object_key("s3://elsewhere/assets/a/master.m3u8", "media")


def test_duration_is_the_longest_output_and_aspect_ratio_is_reduced():
    groups = [{"outputDetails": [{"durationInMs": 2000}, {"durationInMs": 2040}, {}]}]
    assert output_duration(groups) == 2.04
    assert output_duration([]) is None
    assert (aspect_ratio(1920, 1080), aspect_ratio(1080, 1920), aspect_ratio(320, 180)) == ("16:9", "9:16", "16:9")
