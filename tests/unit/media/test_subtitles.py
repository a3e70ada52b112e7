"""Text tracks in the master playlist: a SUBTITLES group that can be rewritten any number of times."""

from __future__ import annotations

from streamstack.media.hls import AudioRendition, Variant, master_playlist
from streamstack.media.subtitles import SubtitleRendition, subtitle_playlist, with_subtitles

MASTER = master_playlist(
    [Variant("360p.m3u8", 900_000, 800_000, "avc1.64001e", 640, 360, 30.0),
     Variant("240p.m3u8", 400_000, 350_000, "avc1.640015", 426, 240, 30.0)],
    AudioRendition("audio.m3u8", "mp4a.40.2", 2, 130_000, 128_000),
)
EN = SubtitleRendition("tr_1", "English", "en")
FR = SubtitleRendition("tr_2", 'Fran"çais', "fr", closed_captions=True)


def test_the_master_gets_a_subtitles_group_linked_from_every_variant() -> None:
    master = with_subtitles(MASTER, [EN, FR])
    lines = master.splitlines()
    media = [line for line in lines if line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
    assert media == [
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="English",LANGUAGE="en",DEFAULT=NO,AUTOSELECT=YES,'
        'FORCED=NO,URI="text-tr_1.m3u8"',
        '#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",NAME="Fran\'çais",LANGUAGE="fr",DEFAULT=NO,AUTOSELECT=YES,'
        'FORCED=NO,CHARACTERISTICS="public.accessibility.transcribes-spoken-dialog,'
        'public.accessibility.describes-music-and-sound",URI="text-tr_2.m3u8"',
    ]
    variants = [line for line in lines if line.startswith("#EXT-X-STREAM-INF:")]
    assert len(variants) == 2 and all(line.endswith(',AUDIO="audio",SUBTITLES="subs"') for line in variants)
    assert lines.index(media[-1]) < lines.index(variants[0])
    assert [line for line in lines if not line.startswith("#")] == ["360p.m3u8", "240p.m3u8"]


def test_rewriting_converges_and_removing_every_track_restores_the_master() -> None:
    once = with_subtitles(MASTER, [EN, FR])
    assert with_subtitles(once, [EN, FR]) == once
    assert with_subtitles(once, [FR]) == with_subtitles(MASTER, [FR])
    assert with_subtitles(once, []) == MASTER


def test_repeated_names_are_made_unique_in_the_group() -> None:
    master = with_subtitles(MASTER, [EN, SubtitleRendition("tr_3", "English", "en-GB")])
    assert 'NAME="English",' in master and 'NAME="English (2)",' in master


def test_subtitle_playlist_is_one_vod_segment_spanning_the_asset() -> None:
    assert subtitle_playlist("text-tr_1.vtt", 12.34) == (
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:13\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXT-X-PLAYLIST-TYPE:VOD\n#EXTINF:12.340,\ntext-tr_1.vtt\n#EXT-X-ENDLIST\n"
    )
