"""Plan the ABR ladder for a probed source: a pure function, so planning is testable without ffmpeg.

Default ladder (H.264 High, 30 fps figures; sizes are the short side, so portrait works the same way):

| rung  | video kb/s | where the figure comes from                                                     |
|-------|-----------:|----------------------------------------------------------------------------------|
| 1080p |       6000 | Apple HLS Authoring Specification, 1920x1080 tier (6000 kb/s)                     |
| 720p  |       3000 | Apple HLS Authoring Specification, 1280x720 tier (3000 kb/s)                      |
| 480p  |       1200 | Apple's 768x432 tier (1100 kb/s) scaled to 854x480, as common OTT ladders do      |
| 360p  |        730 | Apple's 768x432 "730" tier: Apple's 640x360 at 365 kb/s is too soft for sports     |
| 240p  |        300 | Apple's 416x234 tier (145 kb/s) doubled for high-motion content                   |

A source between rungs keeps its own size as the top rendition (640x272 -> 640x272 + 240p).
Above 30 fps a rung's bitrate is multiplied by 1.5 (the 60 fps / 30 fps ratio of YouTube's recommended
upload bitrates). Audio is one AAC-LC stereo rendition at 128 kb/s shared by every video rendition.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from streamstack.media.loudness import LoudnessPlan
from streamstack.media.probe import Probe

HIGH_FRAME_RATE_FACTOR = 1.5
MAXRATE_FACTOR = 1.1  # capped VBR: peak stays within 10% of the target
BUFSIZE_FACTOR = 2.0
AUDIO_BITRATE = 128_000
AUDIO_CODECS = "mp4a.40.2"
NEAR_RUNG_TOLERANCE = 0.05  # a 1078-line source still gets a (1078-line) "1080p" rung
MIN_VIDEO_BITRATE = 100_000
STANDARD_RATES = tuple(
    Fraction(n, d)
    for n, d in (
        (24000, 1001),
        (24, 1),
        (25, 1),
        (30000, 1001),
        (30, 1),
        (48, 1),
        (50, 1),
        (60000, 1001),
        (60, 1),
    )
)


@dataclass(frozen=True)
class LadderRung:
    """One step of a ladder: short-side size in lines and its 30 fps video bitrate."""

    name: str
    height: int
    video_kbps: int


DEFAULT_LADDER: tuple[LadderRung, ...] = (
    LadderRung("1080p", 1080, 6000),
    LadderRung("720p", 720, 3000),
    LadderRung("480p", 480, 1200),
    LadderRung("360p", 360, 730),
    LadderRung("240p", 240, 300),
)


@dataclass(frozen=True)
class RenditionPlan:
    """What to encode for one video rendition; every rendition of an asset shares frame rate and GOP."""

    name: str
    width: int
    height: int
    frame_rate: Fraction
    bitrate: int
    maxrate: int
    bufsize: int
    gop_frames: int
    profile: str
    level: str
    codecs: str

    @property
    def bandwidth(self) -> int:
        """Planned peak for the master playlist before real segment sizes are known."""
        return self.maxrate


@dataclass(frozen=True)
class AudioPlan:
    """The one audio rendition: AAC-LC stereo, shared by all video renditions via an audio group."""

    bitrate: int = AUDIO_BITRATE
    channels: int = 2
    sample_rate: int = 48000
    codecs: str = AUDIO_CODECS
    loudness: LoudnessPlan | None = None  # EBU R128 normalisation, when the asset asks for it


def parse_ladder(raw: Sequence[LadderRung | Mapping[str, Any]] | None) -> tuple[LadderRung, ...] | None:
    """Accept rungs or dicts like {"name": "720p", "height": 720, "video_kbps": 3000} (a Settings value)."""
    if not raw:
        return None
    rungs = [
        r if isinstance(r, LadderRung) else LadderRung(str(r["name"]), int(r["height"]), int(r["video_kbps"]))
        for r in raw
    ]
    for rung in rungs:
        if rung.height < 2 or rung.video_kbps <= 0:
            raise ValueError(f"invalid ladder rung: {rung}")
    return tuple(sorted(rungs, key=lambda r: r.height, reverse=True))


def plan_ladder(
    probe: Probe, settings: Any, *, ladder: Sequence[LadderRung] | None = None
) -> list[RenditionPlan]:
    """Video renditions that fit the source: never upscaled, aspect kept, even sizes, frame rate capped."""
    if not probe.has_video or probe.width < 2 or probe.height < 2:
        return []
    rungs = parse_ladder(ladder) or parse_ladder(settings.ladder) or DEFAULT_LADDER
    rate = output_frame_rate(source_frame_rate(probe), float(settings.max_frame_rate))
    short = min(probe.width, probe.height)
    cap = min(short, settings.max_resolution or short)
    plans: list[RenditionPlan] = []
    above = _rung_above(rungs, cap)
    if above is not None:  # the source sits between rungs (or below all): its own size is the top
        plans.append(_plan_rung(above, _even(cap), probe, rate, settings, name=f"{_even(cap)}p"))
    for rung in rungs:
        lines = _fit_rung(rung.height, cap)
        if lines is None or any(min(p.width, p.height) == lines for p in plans):
            continue
        plans.append(_plan_rung(rung, lines, probe, rate, settings))
    return plans


def _rung_above(rungs: Sequence[LadderRung], cap: int) -> LadderRung | None:
    """The smallest rung taller than the source when no rung comes within 5% of its size, else None.

    Its bitrate, scaled to the source's area, prices the extra top rendition. A source taller than
    the ladder's top rung gets no extra rendition: the ladder's top is the configured ceiling.
    """
    near = cap * (1 - NEAR_RUNG_TOLERANCE)
    if any((_fit_rung(r.height, cap) or 0) >= near for r in rungs):
        return None
    taller = [r for r in rungs if r.height > cap]
    return taller[-1] if taller else None


def source_frame_rate(probe: Probe) -> float:
    """Pictures per second after deinterlacing: each field of interlaced sport becomes a frame (50i->50p)."""
    return probe.frame_rate * 2 if probe.interlaced else probe.frame_rate


def plan_audio(probe: Probe) -> AudioPlan | None:
    """AAC stereo when the source has audio, none otherwise."""
    return AudioPlan() if probe.has_audio else None


def output_frame_rate(source: float, cap: float) -> Fraction:
    """The source rate snapped to a standard rate, divided by the smallest integer that meets the cap."""
    rate = snap_frame_rate(source)
    divisor = max(1, math.ceil(float(rate) / cap - 1e-9))
    return rate / divisor


def snap_frame_rate(source: float) -> Fraction:
    """Exact rate for printed rates (29.97 -> 30000/1001); a variable rate rounds up to a whole rate."""
    if source <= 0:
        return Fraction(30)
    for standard in STANDARD_RATES:
        if abs(float(standard) - source) / float(standard) < 0.0005:
            return standard
    above = [s for s in STANDARD_RATES if s >= source and s.denominator == 1]
    return above[0] if above else Fraction(source).limit_denominator(1001)


def _fit_rung(rung_lines: int, cap: int) -> int | None:
    """Lines to use for a rung, or None when the rung would upscale beyond the tolerance."""
    if rung_lines <= cap:
        return rung_lines
    if rung_lines <= cap * (1 + NEAR_RUNG_TOLERANCE):
        return _even(cap)
    return None


def _plan_rung(
    rung: LadderRung, lines: int, probe: Probe, rate: Fraction, settings: Any, name: str | None = None
) -> RenditionPlan:
    short, long = sorted((probe.width, probe.height))
    long_lines = _even(lines * long / short)
    width, height = (long_lines, lines) if probe.width >= probe.height else (lines, long_lines)
    area_ratio = min(1.0, (width * height) / (rung.height * rung.height * 16 / 9))
    fps_factor = HIGH_FRAME_RATE_FACTOR if rate > 31 else 1.0
    bitrate = max(MIN_VIDEO_BITRATE, int(rung.video_kbps * 1000 * fps_factor * area_ratio))
    maxrate = int(bitrate * MAXRATE_FACTOR)
    level = h264_level(width, height, float(rate), maxrate)
    return RenditionPlan(
        name=name or rung.name,
        width=width,
        height=height,
        frame_rate=rate,
        bitrate=bitrate,
        maxrate=maxrate,
        bufsize=int(bitrate * BUFSIZE_FACTOR),
        gop_frames=max(1, round(float(rate) * settings.keyframe_seconds)),
        profile="high",
        level=level,
        codecs=avc1_codecs("high", level),
    )


def _even(value: float) -> int:
    return max(2, 2 * round(value / 2))


# H.264 Table A-1: level -> (MaxMBPS, MaxFS, MaxBR in kb/s for Baseline/Main; High allows 1.25x).
_LEVELS: tuple[tuple[str, int, int, int], ...] = (
    ("1.0", 1485, 99, 64), ("1.1", 3000, 396, 192), ("1.2", 6000, 396, 384), ("1.3", 11880, 396, 768),
    ("2.0", 11880, 396, 2000), ("2.1", 19800, 792, 4000), ("2.2", 20250, 1620, 4000),
    ("3.0", 40500, 1620, 10000), ("3.1", 108000, 3600, 14000), ("3.2", 216000, 5120, 20000),
    ("4.0", 245760, 8192, 20000), ("4.1", 245760, 8192, 50000), ("4.2", 522240, 8704, 50000),
    ("5.0", 589824, 22080, 135000), ("5.1", 983040, 36864, 240000), ("5.2", 2073600, 36864, 240000),
)  # fmt: skip
_PROFILE_IDC = {"baseline": 0x42, "main": 0x4D, "high": 0x64}


def h264_level(width: int, height: int, frame_rate: float, maxrate: int) -> str:
    """Lowest H.264 level whose frame size, macroblock rate and bitrate limits fit the rendition."""
    mbs = math.ceil(width / 16) * math.ceil(height / 16)
    for level, max_mbps, max_fs, max_br in _LEVELS:
        side_limit = math.sqrt(8 * max_fs)
        fits_side = math.ceil(width / 16) <= side_limit and math.ceil(height / 16) <= side_limit
        if mbs <= max_fs and fits_side and mbs * frame_rate <= max_mbps and maxrate <= max_br * 1250:
            return level
    return _LEVELS[-1][0]


def avc1_codecs(profile: str, level: str) -> str:
    """RFC 6381 string (avc1.PPCCLL) for a profile and level as x264 writes them (no constraint flags)."""
    level_idc = round(float(level) * 10)
    return f"avc1.{_PROFILE_IDC[profile]:02x}00{level_idc:02x}"
