"""Text tracks in HLS: a WebVTT media playlist per track and a SUBTITLES group in the master (pure).

Each track is one WebVTT segment spanning the asset (hls.js, Safari, ExoPlayer and Shaka play it),
so adding a track to a 2-hour film writes two objects, not a thousand. The master is rewritten from
the catalog's list each time, so adding, deleting or re-encoding converges on the same playlist.
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

SUBTITLES_GROUP = "subs"
TEXT_PREFIX = "text-"
# The video's first frame is presentation time 0 (see hls.py), so cue time 0 is media time 0.
TIMESTAMP_MAP = "X-TIMESTAMP-MAP=MPEGTS:0,LOCAL:00:00:00.000"
CLOSED_CAPTION_CHARACTERISTICS = (
    "public.accessibility.transcribes-spoken-dialog,public.accessibility.describes-music-and-sound"
)
_SUBTITLES_ATTRIBUTE = re.compile(r',SUBTITLES="[^"]*"')


@dataclass(frozen=True)
class SubtitleRendition:
    """One text track as the master lists it."""

    track_id: str
    name: str
    language: str
    closed_captions: bool = False

    @property
    def playlist(self) -> str:
        return f"{TEXT_PREFIX}{self.track_id}.m3u8"

    @property
    def segment(self) -> str:
        return f"{TEXT_PREFIX}{self.track_id}.vtt"


def subtitle_playlist(segment: str, duration: float) -> str:
    """A VOD media playlist with the whole WebVTT file as its one segment."""
    duration = max(duration, 0.001)
    return "\n".join([
        "#EXTM3U",
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{max(1, math.ceil(duration))}",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        f"#EXTINF:{duration:.3f},",
        segment,
        "#EXT-X-ENDLIST",
    ]) + "\n"


def with_subtitles(master: str, renditions: Sequence[SubtitleRendition]) -> str:
    """The master with exactly these text tracks: old SUBTITLES entries out, new ones in, variants linked."""
    lines = [line for line in master.splitlines() if not line.startswith("#EXT-X-MEDIA:TYPE=SUBTITLES")]
    lines = [_SUBTITLES_ATTRIBUTE.sub("", line) if line.startswith("#EXT-X-STREAM-INF:") else line
             for line in lines]
    if not renditions:
        return "\n".join(lines) + "\n"
    media = [_media_line(r, name) for r, name in zip(renditions, unique_names(renditions), strict=True)]
    at = next((i for i, line in enumerate(lines) if line.startswith("#EXT-X-STREAM-INF:")), len(lines))
    linked = [f'{line},SUBTITLES="{SUBTITLES_GROUP}"' if line.startswith("#EXT-X-STREAM-INF:") else line
              for line in lines[at:]]
    return "\n".join(lines[:at] + media + linked) + "\n"


def unique_names(renditions: Sequence[SubtitleRendition]) -> list[str]:
    """NAME must be unique within a group (RFC 8216): a repeated name gets ' (2)', ' (3)'..."""
    seen: dict[str, int] = {}
    names = []
    for rendition in renditions:
        base = quoted_safe(rendition.name) or rendition.language
        seen[base] = seen.get(base, 0) + 1
        names.append(base if seen[base] == 1 else f"{base} ({seen[base]})")
    return names


def quoted_safe(value: str) -> str:
    """An HLS quoted-string holds no double quote, CR or LF."""
    return value.replace('"', "'").replace("\r", " ").replace("\n", " ").strip()


def _media_line(rendition: SubtitleRendition, name: str) -> str:
    attrs = (f'TYPE=SUBTITLES,GROUP-ID="{SUBTITLES_GROUP}",NAME="{name}",LANGUAGE="{rendition.language}",'
             f'DEFAULT=NO,AUTOSELECT=YES,FORCED=NO')
    if rendition.closed_captions:
        attrs += f',CHARACTERISTICS="{CLOSED_CAPTION_CHARACTERISTICS}"'
    return f'#EXT-X-MEDIA:{attrs},URI="{rendition.playlist}"'
