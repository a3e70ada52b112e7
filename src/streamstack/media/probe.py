"""Probe a source file with the bundled ffmpeg (the wheel ships no ffprobe) and explain refusals.

The input is opened under the same whitelists as the encode, with `-v debug` so that the demuxer
ffmpeg detected can be named when it is refused (e.g. an HLS playlist with an unusual name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from streamstack.media.errors import MediaError, ProbeError
from streamstack.media.ranged import RangeReads, serve_object
from streamstack.media.safety import (
    JOB_DIR_PREFIX,
    SNIFF_BYTES,
    input_args,
    job_directory,
    loopback_input_args,
    refuse_by_content,
    refuse_head,
    run_ffmpeg,
)
from streamstack.storage.base import ObjectNotFound, ObjectStore

PROBE_TIMEOUT_SECONDS = 60.0

_DURATION_RE = re.compile(
    r"Duration: (N/A|(\d+):(\d+):(\d+(?:\.\d+)?))(?:, start: (-?[\d.]+))?(?:, bitrate: (\d+) kb/s)?"
)
_STREAM_RE = re.compile(r"^\s*Stream #0:(\d+)[^:]*: (Video|Audio|Subtitle|Data|Attachment): (.*)$")
_PROBED_RE = re.compile(r"Format (\S+) probed with size")
_SIZE_RE = re.compile(r", (\d{1,5})x(\d{1,5})(?:[ ,]|$)")
_SAR_RE = re.compile(r"\[SAR (\d+):(\d+) DAR")
_FPS_RE = re.compile(r", ([\d.]+)(k?) fps")
_TBR_RE = re.compile(r", ([\d.]+)(k?) tbr")
_KBPS_RE = re.compile(r", (\d+) kb/s")
_ROTATION_RE = re.compile(r"rotation of (-?[\d.]+) degrees")
_HZ_RE = re.compile(r", (\d+) Hz")
_CHANNELS = {"mono": 1, "stereo": 2, "2.1": 3, "quad": 4, "4.0": 4, "5.0": 5, "5.1": 6, "6.1": 7, "7.1": 8}
_INTERLACED_RE = re.compile(r"\b(?:top|bottom) (?:coded )?first\b")
_BITDEPTH_RE = re.compile(r"p(\d{1,2})(?:le|be)$")


@dataclass(frozen=True)
class Probe:
    """What planning needs to know about a source; width/height as displayed (rotation, SAR applied)."""

    format_name: str
    duration: float
    bitrate: int | None
    has_video: bool
    has_audio: bool
    width: int = 0
    height: int = 0
    coded_width: int = 0
    coded_height: int = 0
    rotation: int = 0
    frame_rate: float = 0.0
    video_codec: str | None = None
    video_bitrate: int | None = None
    pixel_format: str | None = None
    bit_depth: int = 8
    interlaced: bool = False
    video_stream: int | None = None
    audio_codec: str | None = None
    audio_bitrate: int | None = None
    audio_channels: int = 0
    audio_sample_rate: int = 0
    audio_stream: int | None = None


def probe(path: Path) -> Probe:
    """Describe a media file, or raise ProbeError with a reason the uploader can act on."""
    path = Path(path)
    if not path.is_file():
        raise ProbeError("source_missing", "The source file could not be found.")
    refuse_by_content(path)
    return _run_probe(input_args(path.resolve()))


def probe_stored(store: ObjectStore, key: str, *, max_bytes: int | None = None,
                 reads: RangeReads | None = None) -> Probe:
    """Probe a stored source in place with ranged reads: no download, so a Lambda's small /tmp is never filled."""
    try:
        size = store.head(key).size
    except ObjectNotFound:
        raise ProbeError("source_missing", "The uploaded source file could not be found.") from None
    if max_bytes is not None and size > max_bytes:
        raise MediaError("source_too_large", f"The source is larger than the limit of {max_bytes} bytes.")
    head = b"".join(store.get(key, start=0, end=min(size, SNIFF_BYTES) - 1)) if size else b""
    refuse_head(head, size)
    with serve_object(store, key, size, reads) as url:
        return _run_probe(loopback_input_args(url))


def check_source_limits(info: Probe, settings: Any) -> None:
    """Refuse, before any encoding, a source beyond the configured caps: its header decides what decoding costs."""
    if info.duration > settings.max_source_duration_seconds:
        raise ProbeError("source_too_long", f"The source lasts {info.duration:.1f} s; the limit is "
                         f"{settings.max_source_duration_seconds:g} s.")
    if not info.has_video:
        return
    longest = max(info.width, info.height, info.coded_width, info.coded_height)
    if longest > settings.max_source_dimension:
        raise ProbeError("source_dimensions_too_large", f"The source video is {info.width}x{info.height}; "
                         f"the longest side may be at most {settings.max_source_dimension} pixels.")
    pixel_rate = info.width * info.height * info.frame_rate
    if pixel_rate > settings.max_source_pixel_rate:
        raise ProbeError("source_pixel_rate_too_high", f"The source video is {info.width}x{info.height} at "
                         f"{info.frame_rate:g} fps ({pixel_rate:.0f} pixels/s); the limit is "
                         f"{settings.max_source_pixel_rate:.0f} pixels/s.")


def _run_probe(input_arguments: list[str]) -> Probe:
    """ffmpeg opens the input (no output) and prints what it found at debug level."""
    with job_directory(prefix=JOB_DIR_PREFIX + "probe-") as workdir:
        run = run_ffmpeg(["-v", "debug", *input_arguments], cwd=workdir, timeout_seconds=PROBE_TIMEOUT_SECONDS)
    return parse_probe_output(run.stderr)


def parse_probe_output(stderr: str, *, live: bool = False) -> Probe:
    """Parse `ffmpeg -i` diagnostics into a Probe (pure, so refusals are unit-testable); live has no duration."""
    formats = _PROBED_RE.findall(stderr)
    format_name = formats[-1] if formats else "unknown"
    _raise_for_open_failure(stderr, format_name)
    duration, bitrate = _parse_duration(stderr)
    video = audio = None
    for index, kind, desc in _streams(stderr):
        if kind == "Video" and video is None and "(attached pic)" not in desc:
            video = (index, desc)
        elif kind == "Audio" and audio is None:
            audio = (index, desc)
    if video is None and audio is None:
        raise ProbeError("no_media_streams", f"The {format_name} file contains no audio or video stream.")
    fields: dict[str, object] = {}
    if video is not None:
        fields.update(_video_fields(video[0], video[1], _rotation_after(stderr, video[0])))
    if audio is not None:
        fields.update(_audio_fields(audio[0], audio[1]))
    if live:
        duration = 0.0
    elif duration is None or duration <= 0:
        raise ProbeError("unknown_duration", f"The duration of this {format_name} file cannot be determined.")
    return Probe(
        format_name=format_name, duration=duration, bitrate=bitrate,
        has_video=video is not None, has_audio=audio is not None, **fields,  # type: ignore[arg-type]
    )  # fmt: skip


def _raise_for_open_failure(stderr: str, format_name: str) -> None:
    """Translate ffmpeg's open errors into precise, user-facing reasons."""
    if "Format not on whitelist" in stderr:
        kind = {
            "hls": "an HLS playlist",
            "concat": "an ffmpeg concat list",
            "image2": "an image sequence",
        }.get(format_name, f"of type {format_name!r}")
        raise ProbeError(
            "unsupported_format", f"The file is {kind}, which is not accepted as a video source."
        )
    if "moov atom not found" in stderr:
        raise ProbeError(
            "truncated_file",
            "The MP4/MOV file is incomplete (its index, the moov atom, is missing); upload it again.",
        )
    if "Error opening input" in stderr or "Invalid data found when processing input" in stderr:
        raise ProbeError("not_media", "The file is not in any audio or video format we recognise.")


def _parse_duration(stderr: str) -> tuple[float | None, int | None]:
    match = _DURATION_RE.search(stderr)
    if not match or match.group(1) == "N/A":
        return None, int(match.group(6)) * 1000 if match and match.group(6) else None
    hours, minutes, seconds = int(match.group(2)), int(match.group(3)), float(match.group(4))
    bitrate = int(match.group(6)) * 1000 if match.group(6) else None
    return hours * 3600 + minutes * 60 + seconds, bitrate


def _streams(stderr: str) -> list[tuple[int, str, str]]:
    """(stream index, kind, description) of input #0, in order."""
    section = stderr.split("Input #0", 1)[-1].split("Output #0", 1)[0]
    found = []
    for line in section.splitlines():
        match = _STREAM_RE.match(line)
        if match:
            found.append((int(match.group(1)), match.group(2), match.group(3)))
    return found


def _rotation_after(stderr: str, index: int) -> int:
    """The display-matrix rotation in the side data printed below a stream's line."""
    section = stderr.split("Input #0", 1)[-1]
    start = section.find(f"Stream #0:{index}")
    if start < 0:
        return 0
    rest = section[start:].split("\n", 1)[-1]
    next_stream = rest.find("Stream #0:")
    block = rest if next_stream < 0 else rest[:next_stream]
    match = _ROTATION_RE.search(block)
    return int(round(float(match.group(1)))) % 360 if match else 0


def _video_fields(index: int, desc: str, rotation: int) -> dict[str, object]:
    size = _SIZE_RE.search(desc)
    if not size:
        raise ProbeError("unknown_dimensions", "The video stream's dimensions cannot be determined.")
    coded_w, coded_h = int(size.group(1)), int(size.group(2))
    display_w = coded_w
    sar = _SAR_RE.search(desc)
    if sar and int(sar.group(1)) > 0 and int(sar.group(2)) > 0:
        display_w = round(coded_w * int(sar.group(1)) / int(sar.group(2)))
    width, height = (coded_h, display_w) if rotation in (90, 270) else (display_w, coded_h)
    pix = _pixel_format(desc)
    depth = _BITDEPTH_RE.search(pix or "")
    return {
        "video_stream": index,
        "video_codec": desc.split()[0].rstrip(","),
        "coded_width": coded_w,
        "coded_height": coded_h,
        "width": width,
        "height": height,
        "rotation": rotation,
        "frame_rate": _rate(_FPS_RE, desc) or _rate(_TBR_RE, desc),
        "video_bitrate": _kbps(desc),
        "pixel_format": pix,
        "bit_depth": int(depth.group(1)) if depth else 8,
        "interlaced": bool(_INTERLACED_RE.search(desc)),
    }


def _top_level_parts(desc: str) -> list[str]:
    """Split a stream description on commas that are not inside parentheses."""
    parts, depth, current = [], 0, ""
    for ch in desc:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(current.strip())
            current = ""
        else:
            current += ch
    return [*parts, current.strip()]


def _pixel_format(desc: str) -> str | None:
    """The pixel format is the part printed just before the frame size."""
    parts = _top_level_parts(desc)
    for i, part in enumerate(parts[1:], start=1):
        if re.match(r"^\d+x\d+", part):
            return parts[i - 1].split("(")[0].strip() or None
    return None


def _audio_fields(index: int, desc: str) -> dict[str, object]:
    hz = _HZ_RE.search(desc)
    parts = [part.strip() for part in desc.split(",")]
    channels = next((_CHANNELS[p] for p in parts if p in _CHANNELS), 0)
    if not channels:
        named = re.search(r", (\d+) channels", desc)
        channels = int(named.group(1)) if named else 2
    return {
        "audio_stream": index,
        "audio_codec": desc.split()[0].rstrip(","),
        "audio_bitrate": _kbps(desc),
        "audio_channels": channels,
        "audio_sample_rate": int(hz.group(1)) if hz else 0,
    }


def _rate(pattern: re.Pattern[str], desc: str) -> float:
    match = pattern.search(desc)
    if not match:
        return 0.0
    return float(match.group(1)) * (1000 if match.group(2) else 1)


def _kbps(desc: str) -> int | None:
    match = _KBPS_RE.search(desc)
    return int(match.group(1)) * 1000 if match else None
