"""Live playlists at the edge: blocking playlist reload (_HLS_msn, _HLS_part), delta updates, waiting parts.

Every viewer waiting on a rendition shares one watch: a single task polls the playlist object's
metadata and reads its body only when it changed, so the origin sees one read per part however many
viewers wait (RFC 8216bis 6.2.5.2; the packager writes each part before the playlist naming it).
The watch sleeps while no part can be due (parts come one part target apart), looks every
`FINE_POLL_SECONDS` around the next part's due time, and backs off when the encoder is late
or stalled: a few metadata reads per part (HEAD requests on S3) instead of one every 20 ms.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.orm import Session

from streamstack.live.models import LiveStream
from streamstack.live.service import session_prefix
from streamstack.storage.base import ObjectNotFound, ObjectStore, StorageUnavailable
from streamstack.storage.keys import LIVE_MASTER_NAMES

LOW_LATENCY_PLAYLIST = "ll.m3u8"
DELTA_PLAYLIST = "ll_skip.m3u8"
ORIGIN_RETRY_SECONDS = 0.2
FINE_POLL_SECONDS = 0.05  # around a part's due time: a new part is seen within this (answers within 100 ms)
EARLY_FRACTION = 0.2  # start looking this share of a part target before the part is due (encoder jitter)
LATE_PARTS = 3.0  # a part this many part targets late is a stall, not jitter: back off
IDLE_WATCH_SECONDS = 10.0
BLOCKING_MAX_AGE = 60  # a response for a given _HLS_msn/_HLS_part never changes: the query is the cache key
LIVE_PLAYLIST_MAX_AGE = 1
# The query parameters a live playlist response depends on: a CDN must keep them in its cache key.
BLOCKING_QUERY = ("_HLS_msn", "_HLS_part", "_HLS_skip")
_PART_URI = re.compile(r'#EXT-X-PART:[^\n]*URI="(\d+)\.(\d+)\.m4s"')
_PART_KEY = re.compile(r"^(.*/)?(\d+)\.(\d+)\.m4s$")
_MEDIA_SEQUENCE = re.compile(r"#EXT-X-MEDIA-SEQUENCE:(\d+)")
_TARGET = re.compile(r"#EXT-X-TARGETDURATION:(\d+)")
_PART_TARGET = re.compile(r"#EXT-X-PART-INF:PART-TARGET=([\d.]+)")

Offload = Callable[..., Awaitable[Any]]
log = logging.getLogger("streamstack.delivery")


def live_session(session: Session, live_stream_id: str) -> tuple[str, str] | None:
    """(object prefix, master playlist name) of a live stream's current session; None when idle."""
    stream = session.get(LiveStream, live_stream_id)
    prefix = session_prefix(stream) if stream is not None else None
    if stream is None or prefix is None:
        return None
    return prefix, LIVE_MASTER_NAMES.get(stream.latency_mode, LIVE_MASTER_NAMES["low"])


def is_part_key(key: str) -> bool:
    return _PART_KEY.match(key) is not None


class BadBlockingRequest(ValueError):
    """_HLS_ parameters the spec says to refuse with 400 (malformed, part without msn, too far ahead)."""


class NotYetAvailable(TimeoutError):
    """What was asked for did not appear within three target durations: the player retries (503)."""


@dataclass(frozen=True)
class LiveEdge:
    """Where a playlist's live edge is: the newest part, the newest complete segment, and whether it ended."""

    last_msn: int
    last_part: int
    complete_msn: int
    target: int
    ended: bool
    part_target: float = 1.0

    def has(self, msn: int, part: int | None) -> bool:
        if self.ended:
            return True
        if part is None:
            return self.complete_msn >= msn
        return (self.last_msn, self.last_part) >= (msn, part) or self.complete_msn >= msn


def live_edge_of(body: bytes) -> LiveEdge:
    """Parse just what blocking needs from an LL-HLS playlist."""
    text = body.decode("utf-8", "replace")
    parts = _PART_URI.findall(text)
    sequence = _MEDIA_SEQUENCE.search(text)
    target = _TARGET.search(text)
    part_target = _PART_TARGET.search(text)
    complete = (int(sequence.group(1)) if sequence else 0) + text.count("#EXTINF:") - 1
    last_msn, last_part = (int(parts[-1][0]), int(parts[-1][1])) if parts else (complete, -1)
    return LiveEdge(last_msn, last_part, complete, int(target.group(1)) if target else 2, "#EXT-X-ENDLIST" in text,
                    float(part_target.group(1)) if part_target else float(target.group(1)) if target else 2.0)


def next_poll_delay(since_change: float, part_target: float, fine: float = FINE_POLL_SECONDS) -> float:
    """Seconds until the next look at a playlist that last changed `since_change` seconds ago.

    Asleep until the next part is nearly due (one part target after the last), every `fine` seconds
    for LATE_PARTS part targets past the due time (a busy encoder's jitter), then backing off by half
    the time it has been late (a stalled encoder, a publisher gone), never slower than one part target.
    """
    due = part_target * (1 - EARLY_FRACTION)
    if since_change < due:
        return max(fine, due - since_change)
    late = since_change - due - LATE_PARTS * part_target
    if late <= 0:
        return fine
    return min(part_target, max(fine, late / 2))


@dataclass
class BlockingRequest:
    """The _HLS_ query of a playlist request."""

    msn: int | None = None
    part: int | None = None
    skip: bool = False

    @property
    def blocks(self) -> bool:
        return self.msn is not None


def parse_blocking_query(values: dict[str, list[str]]) -> BlockingRequest:
    def number(name: str) -> int | None:
        raw = values.get(name)
        if raw is None:
            return None
        if len(raw) != 1 or not raw[0].isdigit() or len(raw[0]) > 12:
            raise BadBlockingRequest(f"{name} must be a non-negative integer")
        return int(raw[0])

    skip = values.get("_HLS_skip", [""])[0] in ("YES", "v2")
    request = BlockingRequest(number("_HLS_msn"), number("_HLS_part"), skip)
    if request.part is not None and request.msn is None:
        raise BadBlockingRequest("_HLS_part needs _HLS_msn")
    return request


@dataclass
class _Watch:
    key: str
    body: bytes | None = None
    version: str | None = None
    edge: LiveEdge | None = None
    changed_at: float = 0.0
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    last_wanted: float = 0.0


@dataclass
class LivePlaylists:
    """The edge's live watches, keyed by the LL playlist's object key."""

    store: ObjectStore
    offload: Offload
    fine_poll_seconds: float = FINE_POLL_SECONDS
    origin_reads: int = 0  # playlist bodies read from the origin (one per published version)
    origin_polls: int = 0  # metadata reads of playlists (HEAD requests on S3)
    _watches: dict[str, _Watch] = field(default_factory=dict)

    async def playlist(self, key: str, request: BlockingRequest) -> tuple[bytes, int]:
        """The playlist to answer with (the delta when asked for) and its max-age; waits when asked to."""
        watch = await self._current(key)
        assert watch.edge is not None and watch.body is not None
        if request.msn is not None:
            edge = watch.edge
            if request.msn > edge.last_msn + 2:
                raise BadBlockingRequest("_HLS_msn is more than two segments ahead of the live edge")
            await self._wait(watch, lambda e: e.has(request.msn or 0, request.part), 3 * edge.target)
        body = watch.body
        if request.skip:
            delta_key = key[: -len(LOW_LATENCY_PLAYLIST)] + DELTA_PLAYLIST
            body = b"".join(await self.offload(lambda: list(self.store.get(delta_key))))
        return body, BLOCKING_MAX_AGE if request.blocks else LIVE_PLAYLIST_MAX_AGE

    async def wait_for_part(self, playlist_key: str, part_key: str) -> bool:
        """A preload-hinted part asked for before it exists: wait until the playlist names it (or give up)."""
        match = _PART_KEY.match(part_key)
        if match is None:
            return False
        msn, part = int(match.group(2)), int(match.group(3))
        watch = await self._current(playlist_key)
        assert watch.edge is not None
        if msn > watch.edge.last_msn + 1:
            return False
        try:
            await self._wait(watch, lambda e: e.has(msn, part), 3 * watch.edge.target)
        except NotYetAvailable:
            return False
        return True

    async def _current(self, key: str) -> _Watch:
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch(key)
        watch.last_wanted = time.monotonic()
        if watch.task is None or watch.task.done():  # nobody kept it fresh: read it now
            await self._refresh(watch)
        if watch.body is None:
            raise ObjectNotFound(key)
        if watch.edge is not None and not watch.edge.ended:
            self._ensure_polling(watch)
        return watch

    async def _wait(self, watch: _Watch, ready: Callable[[LiveEdge], bool], timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while watch.edge is None or not ready(watch.edge):
            self._ensure_polling(watch)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NotYetAvailable(watch.key)
            watch.changed.clear()
            try:
                await asyncio.wait_for(watch.changed.wait(), remaining)
            except TimeoutError:
                continue
            watch.last_wanted = time.monotonic()

    def _ensure_polling(self, watch: _Watch) -> None:
        if watch.task is None or watch.task.done():
            watch.task = asyncio.get_running_loop().create_task(self._poll(watch))

    async def _poll(self, watch: _Watch) -> None:
        """One loop per playlist while anyone waited recently: metadata when a part may be due, the body on change."""
        while time.monotonic() - watch.last_wanted < IDLE_WATCH_SECONDS:
            part_target = watch.edge.part_target if watch.edge is not None else 1.0
            await asyncio.sleep(next_poll_delay(time.monotonic() - watch.changed_at, part_target,
                                                self.fine_poll_seconds))  # fmt: skip
            try:
                await self._refresh(watch)
            except StorageUnavailable:  # an origin blink must not end the watch its waiters depend on
                log.warning("live playlist %s: origin unavailable, still watching", watch.key, exc_info=True)
                await asyncio.sleep(ORIGIN_RETRY_SECONDS)
                continue
            if watch.edge is not None and watch.edge.ended:
                break
        self._watches.pop(watch.key, None)

    async def _refresh(self, watch: _Watch) -> None:
        self.origin_polls += 1
        try:
            info = await self.offload(self.store.head, watch.key)
        except ObjectNotFound:
            return
        if info.etag == watch.version:
            return
        body = b"".join(await self.offload(lambda: list(self.store.get(watch.key))))
        self.origin_reads += 1
        first, edge = watch.version is None, live_edge_of(body)
        watch.body, watch.version, watch.edge = body, info.etag, edge
        # a playlist read for the first time changed at some unknown moment: look closely for the next part
        watch.changed_at = time.monotonic() - (edge.part_target if first else 0.0)
        watch.changed.set()
