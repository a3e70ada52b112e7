"""The encode command, progress parsing and the playlists we publish (no ffmpeg run)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from streamstack.media.hls import (
    AudioRendition,
    Variant,
    build_encode_command,
    master_playlist,
    parse_media_playlist,
    progress_percent,
    published_playlist,
    vod_playlist,
)
from streamstack.media.images import plan_images
from streamstack.media.ladder import plan_audio, plan_ladder
from streamstack.media.probe import Probe
from streamstack.settings import Settings

SOURCE = Probe(
    format_name="mov", duration=10.0, bitrate=None, has_video=True, has_audio=True, width=1920, height=1080,
    frame_rate=30.0, video_stream=0, audio_stream=1,
)  # fmt: skip

EVENT = """#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:4
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-PLAYLIST-TYPE:EVENT
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MAP:URI="720p_init.mp4"
#EXTINF:4.000000,
720p_00000.m4s
#EXTINF:4.000000,
720p_00001.m4s
"""


def command(settings: Settings | None = None) -> list[str]:
    settings = settings or Settings()
    plans = plan_ladder(SOURCE, settings)
    images = plan_images(SOURCE.duration, plans[0], settings)
    return build_encode_command(
        Path("/job/source"), SOURCE, plans, plan_audio(SOURCE), settings, images=images
    )


def test_one_process_decodes_once_and_splits_to_every_rendition() -> None:
    args = command()
    assert args.count("-i") == 1
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:0]fps=30/1,split=7[s0][s1][s2][s3][s4][poster_in][sprite_in]")
    assert graph.count("scale=") == 7
    assert args.count("libx264") == 5 and args.count("-f") >= 6


def test_gop_is_closed_and_aligned() -> None:
    args = command()
    assert args.count("-sc_threshold") == 5 and args[args.index("-sc_threshold") + 1] == "0"
    assert args[args.index("-force_key_frames") + 1] == "expr:gte(t,n_forced*2)"
    assert args[args.index("-g") + 1] == "60" and args[args.index("-flags") + 1] == "+cgop"


def test_hls_outputs_are_fmp4_event_playlists_with_fixed_names() -> None:
    args = command(Settings(segment_seconds=6))
    assert args[args.index("-hls_time") + 1] == "6"
    assert args[args.index("-hls_segment_type") + 1] == "fmp4"
    assert args[args.index("-hls_playlist_type") + 1] == "event"
    for name in ("1080p.m3u8", "240p.m3u8", "audio.m3u8", "1080p_%05d.m4s", "audio_init.mp4"):
        assert name in args
    assert "-master_pl_name" not in args  # the master is ours


def test_audio_is_one_shared_aac_stereo_output() -> None:
    args = command()
    assert args.count("aac") == 1
    assert args[args.index("-ac") + 1] == "2" and "0:1" in args


def test_progress_percent() -> None:
    assert progress_percent({"out_time_us": "5000000", "progress": "continue"}, 10.0) == 50.0
    assert progress_percent({"out_time_us": "N/A"}, 10.0) is None
    assert progress_percent({"out_time_us": "-9"}, 10.0) == 0.0
    assert progress_percent({"progress": "end"}, 10.0) == 100.0
    assert progress_percent({"out_time_us": "99000000"}, 10.0) == 100.0


def test_parse_media_playlist() -> None:
    parsed = parse_media_playlist(EVENT)
    assert parsed.init_uri == "720p_init.mp4"
    assert [(s.uri, s.duration) for s in parsed.segments] == [
        ("720p_00000.m4s", 4.0),
        ("720p_00001.m4s", 4.0),
    ]
    assert not parsed.ended


def test_published_event_playlist_starts_players_at_zero() -> None:
    text = published_playlist(EVENT)
    assert text.splitlines()[1] == "#EXT-X-START:TIME-OFFSET=0,PRECISE=YES"
    assert "#EXT-X-PLAYLIST-TYPE:EVENT" in text and "#EXT-X-ENDLIST" not in text
    assert published_playlist(text) == text


def test_vod_playlist_closes_the_event() -> None:
    text = vod_playlist(EVENT + "#EXT-X-ENDLIST\n")
    assert "#EXT-X-PLAYLIST-TYPE:VOD" in text and "EVENT" not in text
    assert text.count("#EXT-X-ENDLIST") == 1
    assert vod_playlist(EVENT).rstrip().endswith("#EXT-X-ENDLIST")


def test_master_playlist_attributes_and_audio_group() -> None:
    variants = [
        Variant("240p.m3u8", 450_000, 420_000, "avc1.640015", 426, 240, 30.0),
        Variant("720p.m3u8", 3_500_000, 3_100_000, "avc1.64001f", 1280, 720, 29.97002997),
    ]
    audio = AudioRendition("audio.m3u8", "mp4a.40.2", 2, 130_000, 128_000)
    text = master_playlist(variants, audio)
    lines = text.splitlines()
    assert lines[0] == "#EXTM3U" and "#EXT-X-INDEPENDENT-SEGMENTS" in lines
    assert (
        '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="Default",LANGUAGE="und",DEFAULT=YES,AUTOSELECT=YES,'
        'CHANNELS="2",URI="audio.m3u8"'
    ) in lines
    first = lines.index(next(line for line in lines if line.startswith("#EXT-X-STREAM-INF")))
    assert lines[first] == (
        '#EXT-X-STREAM-INF:BANDWIDTH=3500000,AVERAGE-BANDWIDTH=3100000,CODECS="avc1.64001f,mp4a.40.2",'
        'RESOLUTION=1280x720,FRAME-RATE=29.970,AUDIO="audio"'
    )
    assert lines[first + 1] == "720p.m3u8"


def test_master_without_audio_and_audio_only() -> None:
    video_only = master_playlist([Variant("a.m3u8", 1, 1, "avc1.64001e", 2, 2, 30.0)], None)
    assert (
        "TYPE=AUDIO" not in video_only and 'CODECS="avc1.64001e"' in video_only and "AUDIO=" not in video_only
    )
    audio_only = master_playlist([], AudioRendition("audio.m3u8", "mp4a.40.2", 2, 130_000, 128_000))
    assert 'CODECS="mp4a.40.2"' in audio_only and audio_only.rstrip().endswith("audio.m3u8")


def test_interlaced_source_is_deinterlaced_before_the_split() -> None:
    interlaced = replace(SOURCE, interlaced=True, frame_rate=25.0)
    plans = plan_ladder(interlaced, Settings())
    args = build_encode_command(Path("/job/source"), interlaced, plans, None, Settings())
    graph = args[args.index("-filter_complex") + 1]
    assert graph.startswith("[0:0]bwdif=mode=send_field:deint=interlaced,fps=50/1,split=5")
