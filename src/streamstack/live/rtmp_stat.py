"""What nginx-rtmp knows of a publisher's tracks, from its `rtmp_stat` page on a unix socket of the ingest's own.

The relay plays with `wait_video on` (its first frame is the publisher's first keyframe), so a publisher
that sends no video sends the relay nothing at all and the probe could only give up at its deadline.
nginx itself sees the publisher's metadata and codec headers at once: once the stream has published
for `NO_VIDEO_AFTER_SECONDS` with an audio codec and no video (no video codec, no width), it carries
no video, and the publish is refused then instead of 15 s later.
"""

from __future__ import annotations

import logging
import xml.etree.ElementTree as ET
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path

import httpx

log = logging.getLogger("streamstack.live")
STAT_SOCKET_NAME = "stat.sock"
MAX_SOCKET_PATH = 100  # sun_path holds 108 bytes; a longer run directory gets no stat page (the deadline applies)
NO_VIDEO_AFTER_SECONDS = 1.0  # a publisher's audio header may precede its video's by a few frames
STAT_TIMEOUT_SECONDS = 1.0


@dataclass(frozen=True)
class PublisherTracks:
    """A publishing stream as nginx sees it: which tracks its metadata and headers named, for how long."""

    audio: bool
    video: bool
    publishing_seconds: float


def stat_socket(run_dir: Path) -> Path | None:
    """Where nginx serves its stat page for this run directory; None when the path is too long for a socket."""
    path = run_dir / STAT_SOCKET_NAME
    return path if len(str(path)) <= MAX_SOCKET_PATH else None


def stat_http_block(socket: Path, run_dir: Path) -> str:
    """An nginx `http` block serving `rtmp_stat` on the unix socket only, its temp files under run_dir."""
    temp = "\n".join(f"    {kind}_temp_path {run_dir}/{kind}_temp;" for kind in
                     ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))  # fmt: skip
    return f"""http {{
    access_log off;
{temp}
    server {{
        listen unix:{socket};
        location = /stat {{ rtmp_stat all; }}
    }}
}}
"""


def publisher_tracks(socket: Path, names: Collection[str]) -> PublisherTracks | None:
    """The tracks of the stream published under one of `names`; None when nginx has no such publisher (yet)."""
    try:
        with httpx.Client(transport=httpx.HTTPTransport(uds=str(socket)), timeout=STAT_TIMEOUT_SECONDS) as client:
            page = client.get("http://nginx/stat")
        root = ET.fromstring(page.content)
    except (httpx.HTTPError, ET.ParseError) as exc:
        log.debug("nginx stat unavailable: %s", exc)
        return None
    for stream in root.iter("stream"):
        if stream.findtext("name") in names and stream.find("publishing") is not None:
            return _tracks(stream)
    return None


def _tracks(stream: ET.Element) -> PublisherTracks:
    video, audio = stream.find("meta/video"), stream.find("meta/audio")
    has_video = video is not None and (video.findtext("codec") or _number(video.findtext("width")) > 0)
    has_audio = audio is not None and bool(audio.findtext("codec"))
    publisher = next((c for c in stream.iter("client") if c.find("publishing") is not None), None)
    milliseconds = _number(publisher.findtext("time")) if publisher is not None else 0
    return PublisherTracks(has_audio, bool(has_video), milliseconds / 1000)


def no_video_reason(socket: Path, names: Collection[str]) -> str | None:
    """Why this publisher is known to carry no video, or None while it may still (or nginx cannot tell)."""
    tracks = publisher_tracks(socket, names)
    if tracks is None or tracks.video or not tracks.audio or tracks.publishing_seconds < NO_VIDEO_AFTER_SECONDS:
        return None
    return "The stream carries audio and no video."


def _number(text: str | None) -> int:
    return int(text) if text and text.isdigit() else 0
