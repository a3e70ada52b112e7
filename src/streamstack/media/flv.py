"""What a live stream carries, read from the head of its FLV: the `onMetaData` script tag and the first tags.

RTMP publishers (OBS, ffmpeg, hardware encoders) announce width, height, frame rate and codecs in
`onMetaData`, and the ingest relay's remux writes them at the start of its FLV. Reading them takes
microseconds, where an ffmpeg probe process costs about 0.4 s of the time to first playable; a
stream whose metadata does not say enough is probed by ffmpeg as before (`None` here).
"""

from __future__ import annotations

import struct
from typing import Any

from streamstack.media.probe import Probe

FLV_SIGNATURE = b"FLV"
TAG_AUDIO, TAG_VIDEO, TAG_SCRIPT = 8, 9, 18
VIDEO_CODECS = {7: "h264"}  # the codecs the live encoder takes without asking ffmpeg first
AUDIO_CODECS = {10: "aac", 2: "mp3"}
MAX_AMF_DEPTH = 4


class _AmfEnd(Exception):
    """The object-end marker of an AMF0 object or ECMA array."""


def probe_flv_head(head: bytes) -> Probe | None:
    """A Probe from the FLV's metadata and its first audio/video tags; None when they do not tell enough."""
    if len(head) < 13 or head[:3] != FLV_SIGNATURE:
        return None
    at = struct.unpack_from(">I", head, 5)[0] + 4  # the header, then the first PreviousTagSize
    metadata: dict[str, Any] | None = None
    order: list[int] = []
    while at + 11 <= len(head) and len(order) < 2:
        kind, size = head[at] & 0x1F, int.from_bytes(head[at + 1 : at + 4], "big")
        body = head[at + 11 : at + 11 + size]
        if len(body) < size:
            break
        if kind == TAG_SCRIPT and metadata is None:
            metadata = _on_metadata(body)
        elif kind in (TAG_AUDIO, TAG_VIDEO) and kind not in order:
            order.append(kind)
        at += 11 + size + 4
    if metadata is None or TAG_VIDEO not in order:
        return None
    return _probe_from(metadata, order)


def _probe_from(meta: dict[str, Any], order: list[int]) -> Probe | None:
    width, height, rate = (_positive(meta.get(name)) for name in ("width", "height", "framerate"))
    video_codec = VIDEO_CODECS.get(_number(meta.get("videocodecid")))
    if not (width and height and rate) or video_codec is None:
        return None
    has_audio = "audiocodecid" in meta
    if has_audio and (TAG_AUDIO not in order or _number(meta.get("audiocodecid")) not in AUDIO_CODECS):
        return None  # audio announced but not yet seen (or a codec only ffmpeg should judge): ask ffmpeg
    return Probe(
        format_name="flv", duration=0.0, bitrate=None, has_video=True, has_audio=has_audio,
        width=int(width), height=int(height), coded_width=int(width), coded_height=int(height),
        frame_rate=float(rate), video_codec=video_codec, video_stream=order.index(TAG_VIDEO),
        audio_codec=AUDIO_CODECS.get(_number(meta.get("audiocodecid"))) if has_audio else None,
        audio_stream=order.index(TAG_AUDIO) if has_audio else None,
        audio_channels=(2 if meta.get("stereo") else 1) if has_audio else 0,
        audio_sample_rate=int(meta.get("audiosamplerate") or 0) if has_audio else 0,
    )  # fmt: skip


def _number(value: Any) -> int:
    return int(value) if isinstance(value, float) and value.is_integer() else -1


def _positive(value: Any) -> float:
    """A plausible size or rate, else 0."""
    return value if isinstance(value, float) and 0 < value < 100_000 else 0.0


def _on_metadata(body: bytes) -> dict[str, Any] | None:
    """The `onMetaData` object of a script tag (AMF0), or None for any other script data."""
    try:
        name, at = _amf_value(body, 0, 0)
        if name != "onMetaData":
            return None
        value, _ = _amf_value(body, at, 0)
    except (struct.error, IndexError, UnicodeDecodeError, ValueError, _AmfEnd):
        return None
    return value if isinstance(value, dict) else None


def _amf_value(data: bytes, at: int, depth: int) -> tuple[Any, int]:
    """One AMF0 value at `at`: (value, offset after it). Raises on anything malformed or nested too deep."""
    if depth > MAX_AMF_DEPTH:
        raise ValueError("AMF0 nested too deep")
    marker, at = data[at], at + 1
    if marker == 0:  # number
        return struct.unpack_from(">d", data, at)[0], at + 8
    if marker == 1:  # boolean
        return data[at] != 0, at + 1
    if marker == 2:  # string
        return _amf_string(data, at)
    if marker in (3, 8):  # object, ECMA array (with a count that writers do not always keep)
        return _amf_object(data, at + (4 if marker == 8 else 0), depth)
    if marker in (5, 6):  # null, undefined
        return None, at
    if marker == 9:
        raise _AmfEnd
    if marker == 10:  # strict array
        count, at = struct.unpack_from(">I", data, at)[0], at + 4
        items = []
        for _ in range(min(count, 1024)):
            item, at = _amf_value(data, at, depth + 1)
            items.append(item)
        return items, at
    if marker == 11:  # date: ms since the epoch and a time zone
        return struct.unpack_from(">d", data, at)[0], at + 10
    raise ValueError(f"AMF0 marker {marker} is not read here")


def _amf_string(data: bytes, at: int) -> tuple[str, int]:
    length = struct.unpack_from(">H", data, at)[0]
    end = at + 2 + length
    if end > len(data):
        raise ValueError("AMF0 string runs past the tag")
    return data[at + 2 : end].decode("utf-8"), end


def _amf_object(data: bytes, at: int, depth: int) -> tuple[dict[str, Any], int]:
    fields: dict[str, Any] = {}
    while at + 3 <= len(data):
        key, after_key = _amf_string(data, at)
        if key == "" and data[after_key] == 9:
            return fields, after_key + 1
        try:
            fields[key], at = _amf_value(data, after_key, depth + 1)
        except _AmfEnd:
            return fields, after_key + 1
    return fields, at  # some writers end the metadata tag without the end marker
