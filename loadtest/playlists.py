"""What a player reads from HLS playlists: variants, and the segments and parts of a media playlist by position.

Positions, not URIs, give each segment its media sequence number and each part its index (RFC 8216bis),
as hls.js derives them, so the same code reads the edge's playlists and nginx's copies of them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_ATTRIBUTE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')
_MEDIA_SEQUENCE = re.compile(r"^#EXT-X-MEDIA-SEQUENCE:(\d+)", re.MULTILINE)


def attributes(line: str) -> dict[str, str]:
    """The attribute list of a tag line, quotes removed."""
    return {name: value.strip('"') for name, value in _ATTRIBUTE.findall(line.partition(":")[2])}


@dataclass(frozen=True)
class Variant:
    uri: str
    bandwidth: int


def variants(text: str) -> list[Variant]:
    """The master playlist's STREAM-INF entries, highest bandwidth first."""
    found, lines = [], text.splitlines()
    for index, line in enumerate(lines):
        if line.startswith("#EXT-X-STREAM-INF:") and index + 1 < len(lines):
            found.append(Variant(lines[index + 1].strip(), int(attributes(line)["BANDWIDTH"])))
    return sorted(found, key=lambda v: v.bandwidth, reverse=True)


def pick_variant(choices: list[Variant], bandwidth: float, factor: float = 0.8) -> Variant:
    """hls.js's first choice: the best variant within a safety factor of the measured bandwidth, else the lowest."""
    for variant in choices:
        if variant.bandwidth <= bandwidth * factor:
            return variant
    return choices[-1]


@dataclass(frozen=True)
class Part:
    msn: int
    index: int
    uri: str
    duration: float

    @property
    def position(self) -> tuple[int, int]:
        return self.msn, self.index


@dataclass(frozen=True)
class Segment:
    msn: int
    uri: str
    duration: float


@dataclass
class MediaPlaylist:
    target: float = 2.0
    part_target: float = 0.0
    part_hold_back: float = 0.0
    init_uri: str | None = None
    ended: bool = False
    segments: list[Segment] = field(default_factory=list)
    parts: list[Part] = field(default_factory=list)

    def complete(self, msn: int) -> bool:
        """Segment msn is closed (listed with its EXTINF): its parts are all out, the next part is msn+1's first."""
        return bool(self.segments) and msn <= self.segments[-1].msn


def media_playlist(text: str, *, from_msn: int | None = None) -> MediaPlaylist:
    """Segments, parts, the init segment and the LL timing attributes of a media playlist.

    With from_msn, only segment from_msn onwards and its parts (a reload: what a player has not played yet);
    the attributes of the playlist's head are then not read.
    """
    playlist = MediaPlaylist()
    msn, part_index, duration = 0, 0, None
    if from_msn is not None:
        msn, text = _from_segment(text, from_msn)
    for line in text.splitlines():
        if line.startswith("#EXT-X-MEDIA-SEQUENCE:"):
            msn = int(line.partition(":")[2])
        elif line.startswith("#EXT-X-TARGETDURATION:"):
            playlist.target = float(line.partition(":")[2])
        elif line.startswith("#EXT-X-PART-INF:"):
            playlist.part_target = float(attributes(line)["PART-TARGET"])
        elif line.startswith("#EXT-X-SERVER-CONTROL:"):
            playlist.part_hold_back = float(attributes(line).get("PART-HOLD-BACK", 0.0))
        elif line.startswith("#EXT-X-MAP:"):
            playlist.init_uri = attributes(line)["URI"]
        elif line.startswith("#EXT-X-PART:"):
            values = attributes(line)
            playlist.parts.append(Part(msn, part_index, values["URI"], float(values["DURATION"])))
            part_index += 1
        elif line.startswith("#EXTINF:"):
            duration = float(line.partition(":")[2].split(",")[0])
        elif line.startswith("#EXT-X-ENDLIST"):
            playlist.ended = True
        elif line and not line.startswith("#") and duration is not None:
            playlist.segments.append(Segment(msn, line.strip(), duration))
            msn, part_index, duration = msn + 1, 0, None
    return playlist


def _from_segment(text: str, from_msn: int) -> tuple[int, str]:
    """(msn of the first segment in the rest, the rest): the text after the segments before from_msn.

    Segment n ends with its URI line after its EXTINF; skipping from_msn - MEDIA-SEQUENCE of them is a few
    str.find calls, where parsing every line of a long DVR window on every blocking reload was half of the
    generator's Python time.
    """
    found = _MEDIA_SEQUENCE.search(text)
    first = int(found.group(1)) if found else 0
    offset = 0
    for _ in range(from_msn - first):
        extinf = text.find("\n#EXTINF:", offset)
        if extinf < 0:
            break
        uri_end = text.find("\n", text.find("\n", extinf + 1) + 1)
        offset = len(text) if uri_end < 0 else uri_end
        first += 1
    return first, text[offset:]
