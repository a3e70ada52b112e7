"""Live media playlists (RFC 8216bis with Low-Latency HLS): a pure model of segments and parts, rendered.

One model renders three views of the same media: the LL-HLS playlist (parts, preload hint, server
control, rendition reports, delta updates), the standard live playlist (segments only, the same
sliding DVR window) and the recording (every segment, EVENT while live, VOD with ENDLIST after).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

PARTS_KEPT_SEGMENTS = 3  # parts stay listed for segments this close to the live edge (Apple's rule)
PART_HOLD_BACK_PARTS = 3.0  # Apple: PART-HOLD-BACK at least three part target durations
HOLD_BACK_TARGETS = 3.0  # RFC 8216bis: HOLD-BACK at least three target durations
SKIP_TARGETS = 6.0  # RFC 8216bis: CAN-SKIP-UNTIL at least six target durations


@dataclass(frozen=True)
class Part:
    """A part of a segment: one fMP4 fragment (or a few) addressed by its own URI."""

    uri: str
    duration: float
    independent: bool


@dataclass
class LiveSegment:
    """A segment: its parts while it grows, its URI once complete, and the tags it opens with."""

    msn: int
    init_uri: str
    program_date_time: datetime
    discontinuity: bool = False
    parts: list[Part] = field(default_factory=list)
    uri: str | None = None  # set when the segment is complete

    @property
    def duration(self) -> float:
        return sum(p.duration for p in self.parts)

    @property
    def complete(self) -> bool:
        return self.uri is not None


@dataclass(frozen=True)
class RenditionReport:
    """Where another rendition's live edge is, so a player can switch without an extra reload."""

    uri: str
    last_msn: int
    last_part: int


@dataclass
class LivePlaylist:
    """The media of one rendition: every segment since the session began, and its live window."""

    target_duration: float
    part_target: float
    window_seconds: float
    segments: list[LiveSegment] = field(default_factory=list)
    discontinuity_sequence_base: int = 0
    ended: bool = False

    @property
    def target_seconds(self) -> int:
        """EXT-X-TARGETDURATION: no EXTINF, rounded to the nearest integer, may exceed it."""
        longest = max((s.duration for s in self.segments if s.complete), default=0.0)
        return max(1, math.ceil(self.target_duration), round(longest))

    def last_part(self) -> tuple[int, int] | None:
        """(msn, part index) of the newest published part, None before the first one."""
        for segment in reversed(self.segments):
            if segment.parts:
                return segment.msn, len(segment.parts) - 1
        return None

    def has_part(self, msn: int, part: int | None) -> bool:
        """True once the playlist holds segment msn (complete) or its part index `part`."""
        newest = self.last_part()
        if newest is None:
            return False
        if part is None:
            return any(s.msn >= msn and s.complete for s in self.segments) or self.ended
        last_msn, last_index = newest
        return (last_msn, last_index) >= (msn, part) or self.ended

    def window(self) -> list[LiveSegment]:
        """The segments of the sliding DVR window (the growing one included), oldest first."""
        kept: list[LiveSegment] = []
        total = 0.0
        for segment in reversed(self.segments):
            if kept and segment.complete and total + segment.duration > self.window_seconds:
                break
            kept.append(segment)
            total += segment.duration
        return list(reversed(kept))


def render_low_latency(
    playlist: LivePlaylist,
    *,
    preload_hint: str | None,
    reports: Sequence[RenditionReport] = (),
    skip: bool = False,
) -> str:
    """The LL-HLS playlist: window segments, recent parts, preload hint, reports; a delta update when skip."""
    segments = playlist.window()
    target = playlist.target_seconds
    skip_until = SKIP_TARGETS * target
    control = (
        f"#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL={skip_until:.1f},"
        f"PART-HOLD-BACK={PART_HOLD_BACK_PARTS * playlist.part_target:.3f},"
        f"HOLD-BACK={HOLD_BACK_TARGETS * target:.1f}"
    )
    part_info = f"#EXT-X-PART-INF:PART-TARGET={playlist.part_target:.5f}"
    lines = _header(playlist, segments, version=9, extra=[control, part_info])
    skipped = _skippable(segments, skip_until) if skip else 0
    if skipped:
        lines.append(f"#EXT-X-SKIP:SKIPPED-SEGMENTS={skipped}")
    complete = [s for s in segments if s.complete]
    parts_from = complete[-PARTS_KEPT_SEGMENTS].msn if len(complete) >= PARTS_KEPT_SEGMENTS else -1
    previous: LiveSegment | None = None
    for segment in segments[skipped:]:
        lines += _segment_tags(segment, previous, opens_playlist=segment is segments[0])
        if segment.msn >= parts_from and not playlist.ended:  # ended: all complete, the parts are gone
            lines += [_part_line(p) for p in segment.parts]
        if segment.complete:
            lines += [f"#EXTINF:{segment.duration:.5f},", str(segment.uri)]
        previous = segment
    if playlist.ended:
        lines.append("#EXT-X-ENDLIST")
    elif preload_hint:
        lines.append(f'#EXT-X-PRELOAD-HINT:TYPE=PART,URI="{preload_hint}"')
    for report in reports:
        lines.append(
            f'#EXT-X-RENDITION-REPORT:URI="{report.uri}",LAST-MSN={report.last_msn},LAST-PART={report.last_part}'
        )
    return "\n".join(lines) + "\n"


def render_standard(playlist: LivePlaylist) -> str:
    """The standard live playlist: complete segments of the same window, no parts."""
    segments = [s for s in playlist.window() if s.complete]
    return _render_segments(playlist, segments, playlist_type=None)


def render_recording(playlist: LivePlaylist) -> str:
    """Every segment of the session: an EVENT playlist while live, VOD with ENDLIST once ended."""
    segments = [s for s in playlist.segments if s.complete]
    return _render_segments(playlist, segments, playlist_type="VOD" if playlist.ended else "EVENT")


def _render_segments(playlist: LivePlaylist, segments: list[LiveSegment], *, playlist_type: str | None) -> str:
    extra = [f"#EXT-X-PLAYLIST-TYPE:{playlist_type}"] if playlist_type else []
    if playlist_type:
        extra.append("#EXT-X-START:TIME-OFFSET=0,PRECISE=YES")
    lines = _header(playlist, segments, version=7, extra=extra)
    previous: LiveSegment | None = None
    for segment in segments:
        lines += _segment_tags(segment, previous, opens_playlist=previous is None)
        lines += [f"#EXTINF:{segment.duration:.5f},", str(segment.uri)]
        previous = segment
    if playlist.ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def _header(playlist: LivePlaylist, segments: list[LiveSegment], *, version: int, extra: list[str]) -> list[str]:
    first = segments[0].msn if segments else (playlist.segments[-1].msn + 1 if playlist.segments else 0)
    return [
        "#EXTM3U",
        f"#EXT-X-VERSION:{version}",
        f"#EXT-X-TARGETDURATION:{playlist.target_seconds}",
        *extra,
        f"#EXT-X-MEDIA-SEQUENCE:{first}",
        f"#EXT-X-DISCONTINUITY-SEQUENCE:{_discontinuities_before(playlist, first)}",
        "#EXT-X-INDEPENDENT-SEGMENTS",
    ]


def _discontinuities_before(playlist: LivePlaylist, msn: int) -> int:
    """EXT-X-DISCONTINUITY-SEQUENCE: discontinuities that slid out of the window before msn."""
    return playlist.discontinuity_sequence_base + sum(
        1 for s in playlist.segments if s.msn <= msn and s.discontinuity
    )


def _segment_tags(segment: LiveSegment, previous: LiveSegment | None, *, opens_playlist: bool) -> list[str]:
    """Discontinuity, map and date tags that open a segment (the map when it changes or opens a window)."""
    lines = []
    if segment.discontinuity and not opens_playlist:  # the first one is counted in DISCONTINUITY-SEQUENCE
        lines.append("#EXT-X-DISCONTINUITY")
    if previous is None or previous.init_uri != segment.init_uri:
        lines.append(f'#EXT-X-MAP:URI="{segment.init_uri}"')
    lines.append(f"#EXT-X-PROGRAM-DATE-TIME:{format_date_time(segment.program_date_time)}")
    return lines


def _part_line(part: Part) -> str:
    independent = ",INDEPENDENT=YES" if part.independent else ""
    return f'#EXT-X-PART:DURATION={part.duration:.5f},URI="{part.uri}"{independent}'


def _skippable(segments: list[LiveSegment], skip_until: float) -> int:
    """Complete segments older than CAN-SKIP-UNTIL from the live edge that a delta update leaves out."""
    edge = sum(s.duration for s in segments)
    skipped, elapsed = 0, 0.0
    for segment in segments:
        if not segment.complete or edge - elapsed - segment.duration < skip_until:
            break
        if segment.discontinuity:
            break  # keep discontinuity tags visible to a player that merges the delta
        elapsed += segment.duration
        skipped += 1
    return skipped


def format_date_time(moment: datetime) -> str:
    """ISO 8601 with milliseconds and a Z, as EXT-X-PROGRAM-DATE-TIME is usually written."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def at_offset(origin: datetime, seconds: float) -> datetime:
    return origin + timedelta(seconds=seconds)
