"""A checker for live media playlists against RFC 8216bis and Apple's Low-Latency HLS requirements.

It parses what a player parses and raises AssertionError naming the rule a playlist breaks, so the
packager's output (and the edge's) can be checked after every update, and across updates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime

ATTR_RE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


def attributes(line: str) -> dict[str, str]:
    return {k: v.strip('"') for k, v in ATTR_RE.findall(line.split(":", 1)[1])}


@dataclass
class ParsedSegment:
    msn: int
    uri: str
    duration: float
    parts: list[tuple[float, str, bool]]
    date: datetime | None
    discontinuity: bool


@dataclass
class ParsedPlaylist:
    tags: dict[str, str] = field(default_factory=dict)
    segments: list[ParsedSegment] = field(default_factory=list)
    trailing_parts: list[tuple[float, str, bool]] = field(default_factory=list)
    preload_hints: list[dict[str, str]] = field(default_factory=list)
    reports: list[dict[str, str]] = field(default_factory=list)
    skipped: int = 0
    ended: bool = False

    @property
    def media_sequence(self) -> int:
        return int(self.tags.get("EXT-X-MEDIA-SEQUENCE", "0"))


def parse(text: str) -> ParsedPlaylist:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    assert lines and lines[0] == "#EXTM3U", "a playlist starts with #EXTM3U"
    playlist = ParsedPlaylist()
    parts: list[tuple[float, str, bool]] = []
    duration: float | None = None
    date: datetime | None = None
    discontinuity = False
    msn = None
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name in ("#EXT-X-TARGETDURATION", "#EXT-X-MEDIA-SEQUENCE", "#EXT-X-VERSION", "#EXT-X-PART-INF",
                    "#EXT-X-SERVER-CONTROL", "#EXT-X-DISCONTINUITY-SEQUENCE", "#EXT-X-PLAYLIST-TYPE"):
            assert name[1:] not in playlist.tags, f"{name} appears twice"
            playlist.tags[name[1:]] = value
        elif name == "#EXT-X-SKIP":
            playlist.skipped = int(attributes(line)["SKIPPED-SEGMENTS"])
        elif name == "#EXT-X-PART":
            attrs = attributes(line)
            parts.append((float(attrs["DURATION"]), attrs["URI"], attrs.get("INDEPENDENT") == "YES"))
        elif name == "#EXTINF":
            duration = float(value.split(",")[0])
        elif name == "#EXT-X-PROGRAM-DATE-TIME":
            date = datetime.fromisoformat(value.replace("Z", "+00:00"))
        elif name == "#EXT-X-DISCONTINUITY":
            discontinuity = True
        elif name == "#EXT-X-PRELOAD-HINT":
            playlist.preload_hints.append(attributes(line))
        elif name == "#EXT-X-RENDITION-REPORT":
            playlist.reports.append(attributes(line))
        elif name == "#EXT-X-ENDLIST":
            playlist.ended = True
        elif not line.startswith("#"):
            assert duration is not None, f"segment {line} has no EXTINF"
            if msn is None:
                msn = playlist.media_sequence + playlist.skipped
            playlist.segments.append(ParsedSegment(msn, line, duration, parts, date, discontinuity))
            msn += 1
            parts, duration, date, discontinuity = [], None, None, False
    playlist.trailing_parts = parts
    return playlist


def check_playlist(text: str, *, low_latency: bool = True) -> ParsedPlaylist:
    """Every rule one playlist must meet on its own."""
    playlist = parse(text)
    assert "TARGETDURATION" in " ".join(playlist.tags), "EXT-X-TARGETDURATION is required"
    target = int(playlist.tags["EXT-X-TARGETDURATION"])
    for segment in playlist.segments:
        assert round(segment.duration) <= target, f"segment {segment.msn} EXTINF {segment.duration} > {target}"
    dated = [s for s in playlist.segments if s.date is not None]
    assert len(dated) == len(playlist.segments), "every segment carries EXT-X-PROGRAM-DATE-TIME"
    for before, after in zip(dated, dated[1:], strict=False):
        assert after.date and before.date and after.date > before.date, "PROGRAM-DATE-TIME must increase"
        gap = (after.date - before.date).total_seconds()
        assert gap >= before.duration - 0.05 or after.discontinuity, f"PROGRAM-DATE-TIME overlaps at {after.msn}"
    all_parts = [p for s in playlist.segments for p in s.parts] + playlist.trailing_parts
    if not low_latency:
        assert not all_parts and "EXT-X-SERVER-CONTROL" not in playlist.tags
        return playlist
    part_target = float(attributes("X:" + playlist.tags["EXT-X-PART-INF"])["PART-TARGET"])
    for duration, uri, _ in all_parts:
        assert duration <= part_target, f"part {uri} lasts {duration} > PART-TARGET {part_target}"
    for segment in playlist.segments:
        if segment.parts:
            assert segment.parts[0][2], f"segment {segment.msn} does not start with an INDEPENDENT part"
            total = sum(p[0] for p in segment.parts)
            assert abs(total - segment.duration) < 0.01, f"parts of {segment.msn} sum to {total}"
    control = attributes("X:" + playlist.tags["EXT-X-SERVER-CONTROL"])
    assert control.get("CAN-BLOCK-RELOAD") == "YES"
    assert float(control["PART-HOLD-BACK"]) >= 3 * part_target, "PART-HOLD-BACK < 3x PART-TARGET"
    assert float(control["HOLD-BACK"]) >= 3 * target, "HOLD-BACK < 3x TARGETDURATION"
    assert float(control["CAN-SKIP-UNTIL"]) >= 6 * target, "CAN-SKIP-UNTIL < 6x TARGETDURATION"
    if playlist.ended:
        assert not playlist.preload_hints, "no PRELOAD-HINT after ENDLIST"
    else:
        assert len(playlist.preload_hints) == 1 and playlist.preload_hints[0]["TYPE"] == "PART"
    for report in playlist.reports:
        assert int(report["LAST-MSN"]) >= 0 and int(report["LAST-PART"]) >= 0 and report["URI"]
    return playlist


def check_sequence(texts: list[str], *, low_latency: bool = True) -> list[ParsedPlaylist]:
    """Rules across successive reloads: media sequence never goes back, and no segment is skipped or renamed."""
    parsed = [check_playlist(text, low_latency=low_latency) for text in texts]
    uris: dict[int, str] = {}
    last_seen = -1
    for playlist in parsed:
        assert playlist.media_sequence >= 0
        if playlist.segments:
            first = playlist.segments[0].msn
            assert first <= last_seen + 1, f"media sequence jumped from {last_seen} to {first}"
            last_seen = max(last_seen, playlist.segments[-1].msn)
        for segment in playlist.segments:
            assert uris.setdefault(segment.msn, segment.uri) == segment.uri, f"segment {segment.msn} renamed"
    return parsed
