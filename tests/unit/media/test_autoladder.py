"""The content-aware ladder decision is pure: per-rung bitrate for a target VMAF, caps, dropped rungs."""

from __future__ import annotations

import pytest

from streamstack.media.autoladder import (
    ProbePoint,
    RungMeasurement,
    bitrate_for_vmaf,
    plan_auto_ladder,
    vmaf_at,
)
from streamstack.media.complexity import sample_windows
from streamstack.media.ladder import plan_ladder
from streamstack.media.probe import Probe
from streamstack.settings import Settings

SOURCE = Probe(format_name="mov", duration=60.0, bitrate=None, has_video=True, has_audio=True, width=1280,
               height=720, coded_width=1280, coded_height=720, frame_rate=30.0, video_stream=0, audio_stream=1)
FIXED = plan_ladder(SOURCE, Settings())  # 720p 3000k, 480p 1200k, 360p 730k, 240p 300k


def probes(low: tuple[int, float], high: tuple[int, float]) -> tuple[ProbePoint, ProbePoint]:
    return ProbePoint(20, high[0], high[1]), ProbePoint(30, low[0], low[1])


def test_the_bitrate_for_a_target_follows_vmaf_linear_in_log_bitrate() -> None:
    points = probes((500_000, 90.0), (2_000_000, 98.0))
    target = bitrate_for_vmaf(points, 94.0)
    assert target == pytest.approx(1_000_000, rel=0.01)  # halfway in log terms
    assert vmaf_at(points, target) == pytest.approx(94.0, abs=0.01)
    assert bitrate_for_vmaf(probes((500_000, 99.0), (2_000_000, 99.2)), 97.0) == 500_000  # saturated


def easy_source() -> dict[str, RungMeasurement]:
    """Every rung reaches 97 far below its fixed rate; each step up adds plenty over the rung below."""
    return {
        "720p": RungMeasurement("720p", probes((400_000, 95.0), (1_600_000, 99.0)), below_vmaf=88.0),
        "480p": RungMeasurement("480p", probes((200_000, 95.0), (800_000, 99.0)), below_vmaf=85.0),
        "360p": RungMeasurement("360p", probes((120_000, 95.0), (480_000, 99.0)), below_vmaf=80.0),
        "240p": RungMeasurement("240p", probes((60_000, 95.0), (240_000, 99.0))),
    }


def test_easy_content_gets_cheaper_rungs_at_the_target_quality() -> None:
    auto = plan_auto_ladder(FIXED, easy_source(), target_vmaf=97.0, min_gain=2.0)
    assert [p.name for p in auto.renditions] == ["720p", "480p", "360p", "240p"]
    assert [p.bitrate for p in auto.renditions] == [800_000, 400_000, 240_000, 120_000]
    assert all(d.predicted_vmaf == pytest.approx(97.0) for d in auto.decisions)
    top = auto.renditions[0]
    assert top.maxrate == int(800_000 * 1.1) and top.bufsize == 1_600_000
    assert top.level == "3.1" and top.codecs == "avc1.64001f"  # re-levelled for the new rate


def test_hard_content_never_gets_more_than_the_fixed_ladder() -> None:
    hard = {name: RungMeasurement(name, probes((3_000_000, 60.0), (12_000_000, 80.0)), below_vmaf=20.0)
            for name in ("720p", "480p", "360p", "240p")}
    auto = plan_auto_ladder(FIXED, hard, target_vmaf=97.0, min_gain=2.0)
    assert [p.bitrate for p in auto.renditions] == [p.bitrate for p in FIXED]


def test_a_rung_adding_too_little_over_the_rung_below_is_dropped_but_never_the_top() -> None:
    measured = easy_source()
    measured["480p"] = RungMeasurement("480p", measured["480p"].probes, below_vmaf=96.0)  # 360p looks as good
    measured["720p"] = RungMeasurement("720p", measured["720p"].probes, below_vmaf=96.5)
    auto = plan_auto_ladder(FIXED, measured, target_vmaf=97.0, min_gain=2.0)
    assert [p.name for p in auto.renditions] == ["720p", "360p", "240p"]
    dropped = next(d for d in auto.decisions if d.name == "480p")
    assert not dropped.kept and "adds 1.0 VMAF" in dropped.reason


def test_the_sampled_scenes_spread_over_the_source_and_stay_small() -> None:
    windows = sample_windows(600.0)
    assert [round(start) for start, _ in windows] == [99, 299, 499] and {length for _, length in windows} == {2.0}
    assert sum(length for _, length in sample_windows(60.0)) == pytest.approx(1.8)
    assert sample_windows(0.5) == [(0.0, 0.5)]


def test_mediaconvert_maps_auto_to_a_qvbr_quality_level_under_the_same_caps() -> None:
    from streamstack.media.mediaconvert import plan_job, qvbr_quality_level
    from streamstack.media.options import EncodeOptions

    settings = Settings(mediaconvert_role_arn="arn:aws:iam::000000000000:role/mc", auto_ladder_target_vmaf=97.0)
    levels = {mode: [o["VideoDescription"]["CodecSettings"]["H264Settings"]["QvbrSettings"]["QvbrQualityLevel"]
                     for o in plan_job("as_1", SOURCE, settings, source_key="sources/as_1",
                                       options=EncodeOptions(ladder=mode))["Settings"]["OutputGroups"][0]["Outputs"]
                     if "VideoDescription" in o] for mode in ("fixed", "auto")}
    assert levels == {"fixed": [7] * 4, "auto": [8] * 4}
    assert [qvbr_quality_level(v) for v in (80.0, 93.0, 97.0, 100.0)] == [4, 7, 8, 9]
