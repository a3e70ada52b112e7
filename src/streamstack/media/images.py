"""Poster thumbnail and storyboard (one JPEG sprite + WebVTT with #xywh= tiles).

Both are extra branches of the encode's filter graph, so the source is still decoded once; this
module plans them and renders their ffmpeg arguments and the WebVTT, it does not run anything.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from streamstack.media.ladder import RenditionPlan

THUMBNAIL_NAME = "thumbnail.jpg"
STORYBOARD_IMAGE_NAME = "storyboard.jpg"
STORYBOARD_VTT_NAME = "storyboard.vtt"
TILE_WIDTH = 256
MAX_COLUMNS = 10
MAX_TILES = 200  # one sprite stays under ~5 MB; longer videos get a wider interval


@dataclass(frozen=True)
class ImagesPlan:
    """When to grab the poster and how the storyboard sprite is laid out."""

    poster_time: float
    poster_width: int
    poster_height: int
    interval: float
    tile_width: int
    tile_height: int
    columns: int
    rows: int
    count: int


def plan_images(duration: float, top: RenditionPlan, settings: Any) -> ImagesPlan:
    """Poster at thumbnail_fraction of the duration (on a real frame), tiles every interval seconds."""
    frame = 1 / float(top.frame_rate)
    poster_time = max(0.0, min(duration * settings.thumbnail_fraction, duration - frame))
    interval = max(float(settings.storyboard_interval_seconds), duration / MAX_TILES)
    count = max(1, math.ceil(duration / interval - 1e-6))
    tile_width = min(TILE_WIDTH, top.width)
    tile_height = max(2, 2 * round(tile_width * top.height / top.width / 2))
    columns = min(MAX_COLUMNS, count)
    return ImagesPlan(
        poster_time=round(poster_time, 3),
        poster_width=top.width,
        poster_height=top.height,
        interval=interval,
        tile_width=tile_width,
        tile_height=tile_height,
        columns=columns,
        rows=math.ceil(count / columns),
        count=count,
    )


def image_filters(plan: ImagesPlan, poster_in: str, storyboard_in: str) -> list[str]:
    """Chains turning two split branches into [poster] and [sprite], each passing only the frames it needs."""
    every_interval = f"isnan(prev_selected_t)+gte(t-prev_selected_t,{plan.interval:g}-0.001)"
    return [
        f"[{poster_in}]select='isnan(prev_selected_t)*gte(t,{plan.poster_time})',scale={plan.poster_width}:{plan.poster_height},"
        f"setsar=1[poster]",
        f"[{storyboard_in}]select='{every_interval}',scale={plan.tile_width}:{plan.tile_height},"
        f"setsar=1,tile={plan.columns}x{plan.rows}[sprite]",
    ]


def image_outputs() -> list[str]:
    """Output arguments for the two labels made by image_filters."""
    single_jpeg = ["-frames:v", "1", "-update", "1", "-f", "image2"]
    return [
        "-map", "[poster]", *single_jpeg, "-q:v", "3", THUMBNAIL_NAME,
        "-map", "[sprite]", *single_jpeg, "-q:v", "5", STORYBOARD_IMAGE_NAME,
    ]  # fmt: skip


def storyboard_vtt(plan: ImagesPlan, duration: float, image_uri: str = STORYBOARD_IMAGE_NAME) -> str:
    """WebVTT cues mapping each interval to its tile in the sprite (`#xywh=x,y,w,h`)."""
    lines = ["WEBVTT", ""]
    for index in range(plan.count):
        start = index * plan.interval
        end = min(duration, start + plan.interval)
        x = (index % plan.columns) * plan.tile_width
        y = (index // plan.columns) * plan.tile_height
        lines += [
            f"{_timestamp(start)} --> {_timestamp(end)}",
            f"{image_uri}#xywh={x},{y},{plan.tile_width},{plan.tile_height}",
            "",
        ]
    return "\n".join(lines)


def _timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    secs, ms = divmod(rest, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}.{ms:03d}"
