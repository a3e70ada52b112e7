"""plan_ladder is pure: every rule (no upscale, aspect, even sizes, caps, custom ladders) without ffmpeg."""

from __future__ import annotations

from dataclasses import replace
from fractions import Fraction

import pytest

from streamstack.media.ladder import (
    DEFAULT_LADDER,
    LadderRung,
    avc1_codecs,
    h264_level,
    output_frame_rate,
    parse_ladder,
    plan_audio,
    plan_ladder,
)
from streamstack.media.probe import Probe
from streamstack.settings import Settings


def source(width: int, height: int, fps: float = 30.0, audio: bool = True) -> Probe:
    return Probe(
        format_name="mov,mp4,m4a,3gp,3g2,mj2", duration=10.0, bitrate=None, has_video=True, has_audio=audio,
        width=width, height=height, coded_width=width, coded_height=height, frame_rate=fps, video_stream=0,
        audio_stream=1 if audio else None,
    )  # fmt: skip


def sizes(plans: list) -> list[tuple[int, int]]:
    return [(p.width, p.height) for p in plans]


def test_default_ladder_for_1080p_source() -> None:
    plans = plan_ladder(source(1920, 1080), Settings())
    assert [p.name for p in plans] == ["1080p", "720p", "480p", "360p", "240p"]
    assert sizes(plans) == [(1920, 1080), (1280, 720), (854, 480), (640, 360), (426, 240)]
    assert [p.bitrate // 1000 for p in plans] == [6000, 3000, 1200, 730, 299]
    assert all(p.maxrate > p.bitrate and p.bufsize == 2 * p.bitrate for p in plans)
    assert {p.gop_frames for p in plans} == {60}


def test_never_upscales_a_720p_source() -> None:
    plans = plan_ladder(source(1280, 720), Settings())
    assert sizes(plans) == [(1280, 720), (854, 480), (640, 360), (426, 240)]


def test_portrait_is_planned_by_its_short_side() -> None:
    plans = plan_ladder(source(1080, 1920), Settings())
    assert sizes(plans) == [(1080, 1920), (720, 1280), (480, 854), (360, 640), (240, 426)]
    assert [p.name for p in plans][0] == "1080p"


def test_near_1080_source_keeps_its_own_size_as_top_rung() -> None:
    plans = plan_ladder(source(1918, 1078), Settings())
    assert sizes(plans)[0] == (1918, 1078)
    assert plans[0].name == "1080p"
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in sizes(plans))
    assert sizes(plans)[1] == (1282, 720)  # aspect kept (1918/1078), rounded to even


def test_tiny_source_gets_one_rendition_at_its_size() -> None:
    plans = plan_ladder(source(160, 90), Settings())
    assert sizes(plans) == [(160, 90)]
    assert plans[0].name == "90p"
    assert plans[0].bitrate >= 100_000


def test_odd_dimensions_become_even() -> None:
    plans = plan_ladder(source(333, 201), Settings())
    assert all(w % 2 == 0 and h % 2 == 0 for w, h in sizes(plans))


def test_max_resolution_caps_the_top() -> None:
    plans = plan_ladder(source(1920, 1080), Settings(max_resolution=720))
    assert [p.name for p in plans] == ["720p", "480p", "360p", "240p"]


def test_max_resolution_caps_portrait_short_side() -> None:
    plans = plan_ladder(source(1080, 1920), Settings(max_resolution=480))
    assert sizes(plans)[0] == (480, 854)


@pytest.mark.parametrize(
    ("fps", "cap", "expected"),
    [
        (30.0, 60.0, Fraction(30)),
        (29.97, 60.0, Fraction(30000, 1001)),
        (23.98, 60.0, Fraction(24000, 1001)),
        (60.0, 30.0, Fraction(30)),
        (59.94, 30.0, Fraction(30000, 1001)),
        (50.0, 30.0, Fraction(25)),
        (120.0, 60.0, Fraction(60)),
        (27.3, 60.0, Fraction(30)),  # variable rate: up to the next standard rate, no frames dropped
        (0.0, 60.0, Fraction(30)),
    ],
)
def test_frame_rate_is_snapped_and_capped_by_an_integer_divisor(
    fps: float, cap: float, expected: Fraction
) -> None:
    assert output_frame_rate(fps, cap) == expected


def test_frame_rate_cap_applies_to_every_rendition_and_gop() -> None:
    plans = plan_ladder(source(1920, 1080, fps=60), Settings(max_frame_rate=30))
    assert {p.frame_rate for p in plans} == {Fraction(30)}
    assert {p.gop_frames for p in plans} == {60}


def test_high_frame_rate_raises_bitrate() -> None:
    sixty = plan_ladder(source(1920, 1080, fps=60), Settings())
    assert sixty[0].frame_rate == 60
    assert sixty[0].bitrate == 9_000_000
    assert sixty[0].gop_frames == 120


def test_audio_is_aac_stereo_or_absent() -> None:
    audio = plan_audio(source(1920, 1080))
    assert audio is not None and (audio.channels, audio.codecs) == (2, "mp4a.40.2")
    assert plan_audio(source(1920, 1080, audio=False)) is None


def test_audio_only_source_has_no_video_renditions() -> None:
    audio_only = replace(source(0, 0), has_video=False, video_stream=None)
    assert plan_ladder(audio_only, Settings()) == []
    assert plan_audio(audio_only) is not None


def test_custom_ladder_keyword() -> None:
    custom = [LadderRung("hi", 900, 4000), LadderRung("lo", 300, 500)]
    plans = plan_ladder(source(1920, 1080), Settings(), ladder=custom)
    assert [(p.name, p.width, p.height, p.bitrate) for p in plans] == [
        ("hi", 1600, 900, 4_000_000),
        ("lo", 534, 300, 500_000),
    ]


def test_custom_ladder_from_settings_field() -> None:
    class LadderSettings(Settings):
        ladder: list[dict] | None = None

    settings = LadderSettings(ladder=[{"name": "sd", "height": 360, "video_kbps": 800}])
    plans = plan_ladder(source(1280, 720), settings)
    assert [(p.name, p.height, p.bitrate) for p in plans] == [("sd", 360, 800_000)]


def test_parse_ladder_sorts_and_validates() -> None:
    rungs = parse_ladder(
        [{"name": "a", "height": 240, "video_kbps": 300}, {"name": "b", "height": 720, "video_kbps": 3000}]
    )
    assert rungs is not None and [r.name for r in rungs] == ["b", "a"]
    with pytest.raises(ValueError):
        parse_ladder([{"name": "x", "height": 0, "video_kbps": 1}])
    assert parse_ladder(None) is None


def test_levels_and_codec_strings() -> None:
    assert h264_level(1920, 1080, 30, 6_600_000) == "4.0"
    assert h264_level(1920, 1080, 60, 9_900_000) == "4.2"
    assert h264_level(1280, 720, 30, 3_300_000) == "3.1"
    assert h264_level(426, 240, 30, 330_000) == "2.1"
    assert avc1_codecs("high", "4.0") == "avc1.640028"
    assert avc1_codecs("high", "3.1") == "avc1.64001f"


def test_default_ladder_is_documented_tallest_first() -> None:
    assert [r.height for r in DEFAULT_LADDER] == sorted((r.height for r in DEFAULT_LADDER), reverse=True)


def test_interlaced_sport_is_planned_at_field_rate() -> None:
    interlaced = replace(source(1920, 1080, fps=25), interlaced=True)
    plans = plan_ladder(interlaced, Settings())
    assert plans[0].frame_rate == 50 and plans[0].gop_frames == 100
    assert plan_ladder(interlaced, Settings(max_frame_rate=30))[0].frame_rate == 25


def test_source_between_rungs_keeps_its_own_size_on_top() -> None:
    plans = plan_ladder(source(640, 272), Settings())
    assert sizes(plans) == [(640, 272), (564, 240)]
    assert plans[0].name == "272p"
    assert plans[1].bitrate < plans[0].bitrate < 730_000  # priced from the 360p rung, scaled by area


def test_source_near_a_rung_gets_no_extra_top() -> None:
    plans = plan_ladder(source(1298, 730), Settings())
    assert [p.name for p in plans] == ["720p", "480p", "360p", "240p"]


def test_source_above_the_ladder_top_is_capped_by_the_ladder() -> None:
    plans = plan_ladder(source(2560, 1440), Settings())
    assert sizes(plans)[0] == (1920, 1080)


def test_max_resolution_between_rungs_is_the_top_size() -> None:
    plans = plan_ladder(source(1920, 1080), Settings(max_resolution=600))
    assert sizes(plans)[:2] == [(1066, 600), (854, 480)]
