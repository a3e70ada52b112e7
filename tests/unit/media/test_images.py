"""Poster time and storyboard layout/WebVTT are planned without ffmpeg."""

from __future__ import annotations

from fractions import Fraction

from streamstack.media.images import plan_images, storyboard_vtt
from streamstack.media.ladder import RenditionPlan
from streamstack.settings import Settings

TOP = RenditionPlan(
    "720p", 1280, 720, Fraction(30), 3_000_000, 3_300_000, 6_000_000, 60, "high", "3.1", "avc1.64001f"
)


def test_poster_at_ten_percent_and_tiles_every_interval() -> None:
    plan = plan_images(60.0, TOP, Settings())
    assert plan.poster_time == 6.0 and (plan.poster_width, plan.poster_height) == (1280, 720)
    assert (plan.interval, plan.count, plan.columns, plan.rows) == (5.0, 12, 10, 2)
    assert (plan.tile_width, plan.tile_height) == (256, 144)


def test_poster_of_a_very_short_clip_is_a_real_frame() -> None:
    assert plan_images(0.033, TOP, Settings()).poster_time == 0.0


def test_long_videos_widen_the_interval_to_bound_the_sprite() -> None:
    plan = plan_images(4 * 3600.0, TOP, Settings(storyboard_interval_seconds=2))
    assert plan.count <= 200 and plan.interval == 72.0


def test_vtt_tiles_use_xywh_in_reading_order() -> None:
    plan = plan_images(12.0, TOP, Settings(storyboard_interval_seconds=5))
    vtt = storyboard_vtt(plan, 12.0)
    assert vtt.startswith("WEBVTT\n")
    assert "00:00:00.000 --> 00:00:05.000\nstoryboard.jpg#xywh=0,0,256,144" in vtt
    assert "00:00:10.000 --> 00:00:12.000\nstoryboard.jpg#xywh=512,0,256,144" in vtt
    assert vtt.count("#xywh=") == 3
