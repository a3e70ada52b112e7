"""parse_probe_output turns ffmpeg's diagnostics into a Probe or a precise refusal (no ffmpeg needed)."""

from __future__ import annotations

import pytest

from streamstack.media.errors import ProbeError
from streamstack.media.probe import parse_probe_output

HEADER = (
    "[in#0 @ 0x1] Format {fmt} probed with size=2048 and score=100\nInput #0, {fmt}, from 'file:source':\n"
)

PHONE = (
    HEADER.format(fmt="mov,mp4,m4a,3gp,3g2,mj2")
    + """\
  Duration: 00:01:02.50, start: 0.000000, bitrate: 17000 kb/s
  Stream #0:0[0x1](und), 1, 1/90000: Video: hevc (Main 10), 1 reference frame (hvc1 / 0x31637668), \
yuv420p10le(tv, bt2020nc/bt2020/arib-std-b67, progressive, left), 3840x2160 [SAR 1:1 DAR 16:9], 0/1, \
16000 kb/s, 29.97 fps, 29.97 tbr, 90k tbn (default)
    Side data:
      Display Matrix: rotation of -90.00 degrees
  Stream #0:1[0x2](und), 1, 1/48000: Audio: aac (LC) (mp4a / 0x6134706D), 48000 Hz, stereo, fltp, 192 kb/s
"""
)


def test_phone_clip_rotation_bitdepth_and_streams() -> None:
    probe = parse_probe_output(PHONE)
    assert (probe.width, probe.height) == (2160, 3840)
    assert (probe.coded_width, probe.coded_height, probe.rotation) == (3840, 2160, 270)
    assert probe.duration == 62.5 and probe.bitrate == 17_000_000
    assert probe.frame_rate == 29.97 and probe.video_codec == "hevc"
    assert (probe.pixel_format, probe.bit_depth) == ("yuv420p10le", 10)
    assert (probe.audio_codec, probe.audio_channels, probe.audio_sample_rate) == ("aac", 2, 48000)
    assert (probe.video_stream, probe.audio_stream) == (0, 1)
    assert probe.video_bitrate == 16_000_000 and probe.audio_bitrate == 192_000


def test_cover_art_is_not_video() -> None:
    text = (
        HEADER.format(fmt="mp3")
        + """\
  Duration: 00:00:03.00, start: 0.025057, bitrate: 130 kb/s
  Stream #0:0: Audio: mp3 (mp3float), 44100 Hz, stereo, fltp, 128 kb/s
  Stream #0:1: Video: mjpeg (Baseline), yuvj420p(pc), 600x600, 90k tbr, 90k tbn (attached pic)
"""
    )
    probe = parse_probe_output(text)
    assert not probe.has_video and probe.has_audio and probe.video_stream is None


def test_anamorphic_sar_gives_display_width() -> None:
    text = (
        HEADER.format(fmt="mpegts")
        + """\
  Duration: 00:00:05.00, start: 1.400000, bitrate: 5000 kb/s
  Stream #0:0[0x100]: Video: mpeg2video (Main), yuv420p(tv), 720x576 [SAR 64:45 DAR 16:9], 25 fps
"""
    )
    probe = parse_probe_output(text)
    assert (probe.width, probe.height) == (1024, 576)
    assert not probe.interlaced
    assert parse_probe_output(text.replace("yuv420p(tv)", "yuv420p(tv, top first)")).interlaced


@pytest.mark.parametrize(
    ("stderr", "code"),
    [
        (HEADER.format(fmt="hls") + "Format not on whitelist 'mov,mp4'\n", "unsupported_format"),
        ("[mov,mp4 @ 0x1] moov atom not found\nError opening input: Invalid data\n", "truncated_file"),
        ("Error opening input: Invalid data found when processing input\n", "not_media"),
        (HEADER.format(fmt="srt") + "  Duration: 00:00:05.00\n  Stream #0:0: Subtitle: subrip\n",
         "no_media_streams"),
        (HEADER.format(fmt="h264") + "  Duration: N/A, bitrate: N/A\n"
         "  Stream #0:0: Video: h264, yuv420p, 64x64, 25 fps\n", "unknown_duration"),
    ],
)  # fmt: skip
def test_refusals_have_precise_codes(stderr: str, code: str) -> None:
    with pytest.raises(ProbeError) as info:
        parse_probe_output(stderr)
    assert info.value.code == code
    assert info.value.message


def test_whitelist_refusal_names_the_format() -> None:
    with pytest.raises(ProbeError, match="HLS playlist"):
        parse_probe_output(HEADER.format(fmt="hls") + "Format not on whitelist 'mov'\n")
