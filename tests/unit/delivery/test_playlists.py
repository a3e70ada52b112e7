"""Playlist rewriting: prefixes, signed queries, max_resolution and what stays untouched."""

from __future__ import annotations

import pytest

from streamstack.delivery.playlists import (
    child_uri_rewriter,
    is_final,
    parse_max_resolution,
    render_playlist,
    target_duration,
)

MASTER = b"""#EXTM3U
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="a",NAME="en",URI="audio.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080
1080p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720
720p.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=900000,RESOLUTION=720x1280
portrait.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,RESOLUTION=1920x1080,URI="1080p_iframes.m3u8"
"""


def test_master_gets_prefix_on_lines_and_uri_attributes():
    text = render_playlist(MASTER, prefix="pb1/").decode()
    assert "\npb1/1080p.m3u8\n" in text and 'URI="pb1/audio.m3u8"' in text and 'URI="pb1/1080p_iframes.m3u8"' in text


def test_max_resolution_uses_the_shorter_side_and_drops_iframe_variants_too():
    text = render_playlist(MASTER, max_resolution=720).decode()
    assert "1080p.m3u8" not in text and "1920x1080" not in text
    assert "720p.m3u8" in text and "portrait.m3u8" in text  # 720x1280 is a 720p rendition


def test_signed_query_is_appended_but_never_to_other_hosts():
    rewrite = child_uri_rewriter(prefix="pb/", signed_query="Policy=p&Signature=s&Key-Pair-Id=K")
    assert rewrite("seg.m4s") == "pb/seg.m4s?Policy=p&Signature=s&Key-Pair-Id=K"
    assert rewrite("seg.m4s?x=1") == "pb/seg.m4s?x=1&Policy=p&Signature=s&Key-Pair-Id=K"
    assert rewrite("https://elsewhere/seg.m4s") == "https://elsewhere/seg.m4s"
    assert rewrite("//elsewhere/seg.m4s") == "//elsewhere/seg.m4s"


def test_playlist_facts():
    assert is_final(b"#EXTM3U\n#EXT-X-ENDLIST\n") and not is_final(b"#EXTM3U\n")
    assert target_duration(b"#EXTM3U\n#EXT-X-TARGETDURATION:6\n") == 6.0
    assert parse_max_resolution("720p") == 720 and parse_max_resolution("2160P") == 2160
    with pytest.raises(ValueError):
        parse_max_resolution("720")
