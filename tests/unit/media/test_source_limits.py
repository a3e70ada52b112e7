"""Sources beyond the configured caps (dimensions, pixel rate, duration) are refused before any encoding."""

from __future__ import annotations

import pytest

from streamstack.media.errors import ProbeError
from streamstack.media.probe import check_source_limits, parse_probe_output
from streamstack.settings import Settings

HUGE = """\
[in#0 @ 0x1] Format mov,mp4,m4a,3gp,3g2,mj2 probed with size=2048 and score=100
Input #0, mov,mp4,m4a,3gp,3g2,mj2, from 'file:source':
  Duration: {duration}, start: 0.000000, bitrate: 900 kb/s
  Stream #0:0[0x1](und), 1, 1/12800: Video: h264 (High) (avc1 / 0x31637661), yuv420p(progressive), \
{size} [SAR 1:1 DAR 1:1], 800 kb/s, {fps} fps, {fps} tbr, 12800 tbn (default)
"""


def source(size: str = "1920x1080", fps: str = "30", duration: str = "00:00:10.00"):  # type: ignore[no-untyped-def]
    return parse_probe_output(HUGE.format(size=size, fps=fps, duration=duration))


def test_a_source_claiming_16000x16000_is_refused_with_its_size_and_the_cap():
    with pytest.raises(ProbeError) as refused:
        check_source_limits(source(size="16000x16000"), Settings())
    assert refused.value.code == "source_dimensions_too_large"
    assert refused.value.message == ("The source video is 16000x16000; the longest side may be at most "
                                     "8192 pixels.")


def test_pixel_rate_and_duration_caps_are_settings():
    settings = Settings(max_source_pixel_rate=1920 * 1080 * 30, max_source_duration_seconds=3600)
    check_source_limits(source(), settings)
    with pytest.raises(ProbeError, match=r"1920x1080 at 60 fps \(124416000 pixels/s\); the limit is 62208000") as rate:
        check_source_limits(source(fps="60"), settings)
    assert rate.value.code == "source_pixel_rate_too_high"
    with pytest.raises(ProbeError, match="lasts 3601.0 s; the limit is 3600 s") as long:
        check_source_limits(source(duration="01:00:01.00"), settings)
    assert long.value.code == "source_too_long"


def test_a_portrait_source_is_measured_by_its_longest_side():
    check_source_limits(source(size="4320x7680"), Settings())
    with pytest.raises(ProbeError, match="4320x8200"):
        check_source_limits(source(size="4320x8200"), Settings())

