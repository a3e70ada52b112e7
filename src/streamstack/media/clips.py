"""Clips without re-encoding (pure): a time range of an HLS asset cut at segment boundaries.

A clip's media playlists name the very segments (and init segments) of the source that cover the
range, so a clip costs object copies, never an encode. Times are media time from the start of the
recording: the sum of EXTINF durations, discontinuities (reconnects) included.
"""

from __future__ import annotations

import posixpath
import re
from collections.abc import Sequence
from dataclasses import dataclass

from streamstack.media.hls import START_TAG
from streamstack.media.subtitles import with_subtitles

BOUNDARY_TOLERANCE = 0.1  # a boundary this close to a cut time is that cut (audio segments drift by a frame)
_EXTINF = re.compile(r"^#EXTINF:([0-9]+(?:\.[0-9]+)?)")
_MAP = re.compile(r'^#EXT-X-MAP:URI="([^"]+)"')
_TARGET = re.compile(r"^#EXT-X-TARGETDURATION:([0-9]+)")
_URI_ATTRIBUTE = re.compile(r'URI="([^"]+)"')
_MEDIA_TAGS = ("#EXT-X-MEDIA:TYPE=AUDIO", "#EXT-X-MEDIA:TYPE=VIDEO")


class NotClippable(ValueError):
    """The source's playlists cannot be cut into a clip (the message says why, for a 422)."""


@dataclass(frozen=True)
class SourceSegment:
    """One segment of a media playlist, on the recording's media timeline."""

    uri: str
    start: float
    duration: float
    init_uri: str | None
    discontinuity: bool
    program_date_time: str | None

    @property
    def end(self) -> float:
        return self.start + self.duration


@dataclass(frozen=True)
class SourcePlaylist:
    target_duration: int
    segments: tuple[SourceSegment, ...]

    @property
    def duration(self) -> float:
        return self.segments[-1].end if self.segments else 0.0


def parse_source_playlist(text: str) -> SourcePlaylist:
    """Segments with their start times, init segment, discontinuity and date; refuses byte ranges and keys."""
    if any(tag in text for tag in ("#EXT-X-BYTERANGE", "#EXT-X-KEY")) or "BYTERANGE=" in text:
        raise NotClippable("its segments are byte ranges or encrypted, which a clip cannot copy")
    segments: list[SourceSegment] = []
    target, init, at = 0, None, 0.0
    duration: float | None = None
    discontinuity, date = False, None
    for raw in text.splitlines():
        line = raw.strip()
        if match := _TARGET.match(line):
            target = int(match.group(1))
        elif match := _MAP.match(line):
            init = match.group(1)
        elif match := _EXTINF.match(line):
            duration = float(match.group(1))
        elif line == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif line.startswith("#EXT-X-PROGRAM-DATE-TIME:"):
            date = line.split(":", 1)[1]
        elif line and not line.startswith("#") and duration is not None:
            segments.append(SourceSegment(line, at, duration, init, discontinuity and bool(segments), date))
            at += duration
            duration, discontinuity, date = None, False, None
    return SourcePlaylist(target, tuple(segments))


def covering(playlist: SourcePlaylist, start: float, end: float) -> list[SourceSegment]:
    """The segments that cover [start, end): from the one holding start to the one holding end."""
    return [s for s in playlist.segments
            if s.end > start + BOUNDARY_TOLERANCE and s.start < end - BOUNDARY_TOLERANCE]  # fmt: skip


def clip_playlist(playlist: SourcePlaylist, segments: Sequence[SourceSegment]) -> str:
    """A VOD media playlist of these segments, URIs as in the source (the clip copies them alongside)."""
    target = max([playlist.target_duration, *(round(s.duration) for s in segments)])
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", f"#EXT-X-TARGETDURATION:{target}", "#EXT-X-PLAYLIST-TYPE:VOD",
             START_TAG, "#EXT-X-MEDIA-SEQUENCE:0", "#EXT-X-INDEPENDENT-SEGMENTS"]  # fmt: skip
    previous: SourceSegment | None = None
    for segment in segments:
        if previous is not None and segment.discontinuity:
            lines.append("#EXT-X-DISCONTINUITY")
        if segment.init_uri and (previous is None or previous.init_uri != segment.init_uri):
            lines.append(f'#EXT-X-MAP:URI="{segment.init_uri}"')
        if segment.program_date_time:
            lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{segment.program_date_time}")
        lines += [f"#EXTINF:{segment.duration:.5f},", segment.uri]
        previous = segment
    lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def media_playlist_uris(master: str) -> list[str]:
    """The media playlists a master names that a clip cuts: video variants and audio/video groups."""
    uris: list[str] = []
    lines = master.splitlines()
    for i, line in enumerate(lines):
        if line.startswith(_MEDIA_TAGS) and (match := _URI_ATTRIBUTE.search(line)):
            uris.append(match.group(1))
        elif line.startswith("#EXT-X-STREAM-INF:") and i + 1 < len(lines):
            uris.append(lines[i + 1].strip())
    return list(dict.fromkeys(uris))


def clip_master(master: str) -> str:
    """The source's master without what a clip does not carry (text tracks, I-frame playlists)."""
    lines = [line for line in with_subtitles(master, []).splitlines() if not line.startswith("#EXT-X-I-FRAME")]
    return "\n".join(lines) + "\n"


def resolve(base: str, uri: str) -> str:
    """A playlist-relative URI as a path below the asset's prefix; anything reaching outside is refused."""
    if "://" in uri or uri.startswith("/") or "?" in uri:
        raise NotClippable(f"it names {uri!r}, which is not one of its own objects")
    path = posixpath.normpath(posixpath.join(posixpath.dirname(base), uri))
    if path.startswith("../") or path == "..":
        raise NotClippable(f"it names {uri!r}, which is not one of its own objects")
    return path
