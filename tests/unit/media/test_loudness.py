"""Loudness planning is pure: the loudnorm filter for one or two passes, the analysis JSON, the meter log."""

from __future__ import annotations

from pathlib import Path

from streamstack.media.ladder import plan_audio
from streamstack.media.loudness import LoudnessMeasurement, LoudnessPlan, parse_analysis, read_integrated
from streamstack.media.mediaconvert import audio_output, plan_mediaconvert_audio
from streamstack.media.options import EncodeOptions
from streamstack.media.probe import Probe
from streamstack.settings import Settings

ANALYSIS = """[Parsed_loudnorm_0 @ 0x55d] \n{
\t"input_i" : "-49.55",
\t"input_tp" : "-31.20",
\t"input_lra" : "0.60",
\t"input_thresh" : "-59.67",
\t"output_i" : "-23.01",
\t"output_tp" : "-4.60",
\t"output_lra" : "0.40",
\t"output_thresh" : "-33.09",
\t"normalization_type" : "dynamic",
\t"target_offset" : "0.01"
}
"""


def test_two_pass_plan_is_a_linear_loudnorm_with_the_measured_values() -> None:
    measured = parse_analysis(ANALYSIS)
    assert measured == LoudnessMeasurement(-49.55, -31.2, 0.6, -59.67, 0.01)
    plan = LoudnessPlan(-23.0, -1.0, measured)
    assert plan.filter() == ("loudnorm=I=-23:TP=-1:measured_I=-49.55:measured_TP=-31.2:measured_LRA=0.6"
                             ":measured_thresh=-59.67:offset=0.01:linear=true:LRA=7,aresample=48000")


def test_a_wide_source_range_is_kept_so_the_gain_stays_linear() -> None:
    plan = LoudnessPlan(-23.0, -1.0, LoudnessMeasurement(-30.0, -5.0, 14.2, -40.0, 0.0))
    assert ":LRA=16," in plan.filter()


def test_single_pass_plan_is_dynamic() -> None:
    assert LoudnessPlan(-16.0, -1.5).filter() == "loudnorm=I=-16:TP=-1.5:LRA=7,aresample=48000"


def test_silence_or_garbage_gives_no_measurement() -> None:
    assert parse_analysis(ANALYSIS.replace('"-49.55"', '"-inf"')) is None
    assert parse_analysis(ANALYSIS.replace('"-49.55"', '"-72.00"')) is None
    assert parse_analysis("no json here") is None


def test_the_meter_log_gives_the_last_integrated_value(tmp_path: Path) -> None:
    log = tmp_path / "loudness.txt"
    log.write_text("frame:0 pts:0 pts_time:0\nlavfi.r128.I=-70.000\nframe:1 pts:4800 pts_time:0.1\n"
                   "lavfi.r128.I=-23.400\nframe:2 pts:9600 pts_time:0.2\nlavfi.r128.I=-22.970\n")
    assert read_integrated(log) == -22.97
    log.write_text("frame:0 pts:0 pts_time:0\nlavfi.r128.I=-70.000\n")
    assert read_integrated(log) is None
    assert read_integrated(tmp_path / "missing.txt") is None


def test_mediaconvert_gets_the_same_target_as_bs1770_correction() -> None:
    source = Probe(format_name="mov", duration=10.0, bitrate=None, has_video=True, has_audio=True, width=640,
                   height=360, coded_width=640, coded_height=360, frame_rate=30.0, video_stream=0, audio_stream=1)
    settings = Settings(loudness_target_lufs=-24.0, loudness_true_peak_dbtp=-2.0)
    audio = plan_mediaconvert_audio(source, settings, EncodeOptions(normalize_audio=True))
    assert audio is not None and audio.loudness == LoudnessPlan(-24.0, -2.0)
    assert audio_output(audio)["AudioDescriptions"][0]["AudioNormalizationSettings"] == {
        "Algorithm": "ITU_BS_1770_3", "AlgorithmControl": "CORRECT_AUDIO", "TargetLkfs": -24.0,
        "PeakCalculation": "TRUE_PEAK", "TruePeakLimiterThreshold": -2.0}
    plain = plan_mediaconvert_audio(source, settings, EncodeOptions())
    assert plain == plan_audio(source) and plain is not None
    assert "AudioNormalizationSettings" not in audio_output(plain)["AudioDescriptions"][0]
