"""Caption files in, clean WebVTT out: decode, detect WebVTT or SRT, check every timing, convert SRT.

Pure functions (no I/O), so every rule is testable on strings. A file that cannot be trusted gets a
CaptionError whose code says what is wrong (not_captions, bad_encoding, bad_timing, no_cues) and whose
message names the line, so the user can fix the file.
"""

from __future__ import annotations

import codecs
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

CaptionFormat = Literal["webvtt", "srt"]
MAX_CAPTION_BYTES = 4 << 20  # a three-hour film's subtitles are a few hundred kB
_VTT_TIME = re.compile(r"^(?:(\d{2,}):)?(\d{2}):(\d{2})\.(\d{3})$")
_SRT_TIME = re.compile(r"^(\d+):(\d{1,2}):(\d{1,2})(?:[,.](\d{1,3}))?$")
_TIMING = re.compile(r"^\s*(\S+)\s+-->\s+(\S+)(.*)$")
_SRT_INDEX = re.compile(r"^\s*\d+\s*$")
_TAG = re.compile(r"<(/?)([a-zA-Z]+)([^>]*)>")
_VTT_TAGS = {"b", "i", "u"}  # the SRT tags WebVTT shares; <font> and others have no WebVTT meaning
_ASS_OVERRIDE = re.compile(r"\{\\[^}]*\}")
_ASS_TOP = re.compile(r"\{\\an[789]\}")
_ENTITY = re.compile(r"&(?!(?:[a-zA-Z]+|#\d+|#x[0-9a-fA-F]+);)")


class CaptionError(ValueError):
    """A caption file the platform refuses; `code` is machine-readable, the message says what to fix."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str
    identifier: str = ""
    settings: str = ""


@dataclass(frozen=True)
class Captions:
    """A parsed file: its format, WebVTT STYLE/REGION blocks kept as written, cues in start order."""

    format: CaptionFormat
    cues: tuple[Cue, ...]
    blocks: tuple[str, ...] = ()

    @property
    def end(self) -> float:
        return max((cue.end for cue in self.cues), default=0.0)


def parse_captions(data: bytes) -> Captions:
    """Detect the format from the content (not the file name) and parse it."""
    if len(data) > MAX_CAPTION_BYTES:
        raise CaptionError("too_large", f"The caption file is {len(data)} bytes; the limit is {MAX_CAPTION_BYTES}.")
    text = decode_text(data)
    lines = text.split("\n")
    if re.match(r"^WEBVTT(?:[ \t].*)?$", lines[0]):
        return parse_webvtt(lines)
    first = next((i for i, line in enumerate(lines) if line.strip()), None)
    if first is not None and _looks_like_srt(lines[first:first + 2]):
        return parse_srt(lines)
    raise CaptionError("not_captions", "The file is neither WebVTT (it must start with the line WEBVTT) nor SRT "
                                       "(it must start with a cue number and a line like "
                                       "00:00:01,000 --> 00:00:02,500).")


def decode_text(data: bytes) -> str:
    """UTF-8 (with or without BOM) or BOM-marked UTF-16, newlines normalised; anything else is refused."""
    if b"\x00" in data and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise CaptionError("not_captions", "The file contains binary data; a caption file is plain text.")
    try:
        if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
            text = data.decode("utf-16")
        else:
            text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CaptionError(
            "bad_encoding",
            f"The file is not UTF-8: byte 0x{data[exc.start]:02X} on line {line} cannot be decoded. "
            "Save it as UTF-8 (WebVTT requires it) and upload it again.",
        ) from exc
    return text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff")


def parse_webvtt(lines: list[str]) -> Captions:
    """WebVTT per the W3C syntax: header, then STYLE/REGION/NOTE blocks and cues separated by blank lines."""
    cues: list[Cue] = []
    blocks: list[str] = []
    for number, block in _blocks(lines, start=_skip_header(lines)):
        head = block[0]
        if head.startswith("NOTE") and (len(head) == 4 or head[4] in " \t"):
            continue
        if head in ("STYLE", "REGION") or head.startswith(("STYLE ", "REGION ")):
            if cues:
                raise CaptionError("not_captions", f"Line {number}: {head.split()[0]} blocks must come before "
                                                   "the first cue.")
            blocks.append("\n".join(block))
            continue
        identifier = ""
        if "-->" not in head:
            identifier, block, number = head, block[1:], number + 1
        if not block or "-->" not in block[0]:
            raise CaptionError("bad_timing", f"Line {number}: expected a cue timing like "
                                             "00:00:01.000 --> 00:00:02.500.")
        start, end, settings = _timing(block[0], number, _vtt_seconds)
        cues.append(Cue(start, end, "\n".join(block[1:]), identifier, settings.strip()))
    return _finish("webvtt", cues, blocks)


def parse_srt(lines: list[str]) -> Captions:
    """SRT as written in the wild: numbered cues, `,` or `.` before milliseconds, tags converted for WebVTT."""
    cues: list[Cue] = []
    for number, block in _blocks(lines, start=0):
        timing_at = 1 if _SRT_INDEX.match(block[0]) and len(block) > 1 else 0
        if "-->" not in block[timing_at]:
            if cues and timing_at == 0:  # a blank line inside a cue's text: keep the text with its cue
                last = cues.pop()
                cues.append(Cue(last.start, last.end, last.text + "\n" + srt_text_to_webvtt(block)[0],
                                last.identifier, last.settings))
                continue
            raise CaptionError("bad_timing", f"Line {number + timing_at}: expected a cue timing like "
                                             "00:00:01,000 --> 00:00:02,500.")
        start, end, _position = _timing(block[timing_at], number + timing_at, _srt_seconds)
        text, settings = srt_text_to_webvtt(block[timing_at + 1:])
        cues.append(Cue(start, end, text, settings=settings))
    return _finish("srt", cues, [])


def srt_text_to_webvtt(lines: list[str]) -> tuple[str, str]:
    """SRT cue text as WebVTT cue text (+ cue settings): b/i/u kept, font and ASS tags dropped, & and < escaped."""
    text = "\n".join(line.rstrip() for line in lines)
    settings = "line:0" if _ASS_TOP.search(text) else ""  # {\an8}: a top-of-frame subtitle
    text = _ASS_OVERRIDE.sub("", text)
    text = _ENTITY.sub("&amp;", text)
    parts: list[str] = []
    last = 0
    for match in _TAG.finditer(text):
        parts.append(text[last:match.start()].replace("<", "&lt;").replace(">", "&gt;"))
        closing, name = match.group(1), match.group(2).lower()
        if name in _VTT_TAGS:
            parts.append(f"<{closing}{name}>")
        last = match.end()
    parts.append(text[last:].replace("<", "&lt;").replace(">", "&gt;"))
    return "".join(parts), settings


def to_webvtt(captions: Captions, *, header: str = "") -> str:
    """A WebVTT file: the optional header line (e.g. X-TIMESTAMP-MAP), kept blocks, then the cues."""
    out = ["WEBVTT"] + ([header] if header else []) + [""]
    for block in captions.blocks:
        out += [block, ""]
    for cue in captions.cues:
        timing = f"{format_timestamp(cue.start)} --> {format_timestamp(cue.end)}"
        out += ([cue.identifier] if cue.identifier else []) + [f"{timing} {cue.settings}".rstrip()]
        out += ([cue.text] if cue.text else []) + [""]
    return "\n".join(out)


def format_timestamp(seconds: float) -> str:
    millis = round(seconds * 1000)
    hours, rest = divmod(millis, 3_600_000)
    minutes, rest = divmod(rest, 60_000)
    return f"{hours:02d}:{minutes:02d}:{rest // 1000:02d}.{rest % 1000:03d}"


def _looks_like_srt(first_lines: list[str]) -> bool:
    candidates = first_lines[1:] if first_lines and _SRT_INDEX.match(first_lines[0]) else first_lines[:1]
    return any(_TIMING.match(line) and "-->" in line for line in candidates)


def _skip_header(lines: list[str]) -> int:
    """Index after the header (the WEBVTT line and any header lines up to the first blank line)."""
    index = 1
    while index < len(lines) and lines[index].strip():
        if "-->" in lines[index]:
            raise CaptionError("not_captions", f"Line {index + 1}: a blank line must follow the WEBVTT header.")
        index += 1
    return index


def _blocks(lines: list[str], *, start: int) -> list[tuple[int, list[str]]]:
    """(1-based line number of the block's first line, its lines) for each run of non-blank lines."""
    blocks: list[tuple[int, list[str]]] = []
    current: list[str] = []
    for index in range(start, len(lines)):
        line = lines[index]
        if line.strip():
            if not current:
                blocks.append((index + 1, current))
            current.append(line)
        else:
            current = []
    return blocks


def _timing(line: str, number: int, parse: Callable[[str, int], float]) -> tuple[float, float, str]:
    match = _TIMING.match(line)
    if not match:
        raise CaptionError("bad_timing", f"Line {number}: {line.strip()!r} is not a cue timing "
                                         "(start --> end).")
    start, end = parse(match.group(1), number), parse(match.group(2), number)
    if end <= start:
        raise CaptionError("bad_timing", f"Line {number}: the cue ends ({match.group(2)}) before or when it starts "
                                         f"({match.group(1)}).")
    return start, end, match.group(3)


def _vtt_seconds(value: str, number: int) -> float:
    match = _VTT_TIME.match(value)
    if not match or int(match.group(2)) > 59 or int(match.group(3)) > 59:
        raise CaptionError("bad_timing", f"Line {number}: {value!r} is not a WebVTT timestamp "
                                         "(hh:mm:ss.ttt or mm:ss.ttt, minutes and seconds below 60).")
    hours, minutes, seconds, millis = (int(g or 0) for g in match.groups())
    return hours * 3600 + minutes * 60 + seconds + millis / 1000


def _srt_seconds(value: str, number: int) -> float:
    match = _SRT_TIME.match(value)
    if not match or int(match.group(2)) > 59 or int(match.group(3)) > 59:
        raise CaptionError("bad_timing", f"Line {number}: {value!r} is not an SRT timestamp "
                                         "(hh:mm:ss,mmm, minutes and seconds below 60).")
    hours, minutes, seconds = (int(g) for g in match.groups()[:3])
    fraction = match.group(4) or "0"
    return hours * 3600 + minutes * 60 + seconds + int(fraction.ljust(3, "0")) / 1000


def _finish(kind: CaptionFormat, cues: list[Cue], blocks: list[str]) -> Captions:
    if not cues:
        raise CaptionError("no_cues", "The file has no cues: there is nothing to show.")
    return Captions(kind, tuple(sorted(cues, key=lambda cue: cue.start)), tuple(blocks))
