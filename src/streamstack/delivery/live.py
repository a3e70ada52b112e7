"""Live playlists at the edge: blocking playlist reload (_HLS_msn, _HLS_part), delta updates, waiting parts.

Every viewer waiting on a rendition shares one watch: a single task looks at the playlist object and
reads its body only when it changed, so the origin sees about one request per part however many
viewers wait (RFC 8216bis 6.2.5.2; the packager writes each part before the playlist naming it).
A look is one conditional read (S3: GetObject with If-None-Match, a 304 when nothing changed; a local
folder: open and fstat, the read only when the ETag moved). Parts are published in real time, one
part target apart, so the watch keeps a grid of when they come and sleeps until the next one is due:
its first look comes `GUARD_SECONDS` after that, then every `FINE_POLL_SECONDS` until it is there
(answers within 100 ms), backing off when the encoder stalls. Where the store dates its writes to the
millisecond (a local file's mtime) the grid is exact; where it cannot (S3 dates whole seconds, a shield),
the watch brackets the publication between a look that missed and the one that found it, and after a
part found at the first look it looks `CREEP_SECONDS` earlier next time, so the grid never stays late.
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
from streamstack.storage.base import Changed, ObjectNotFound, ObjectStore, StorageUnavailable, read_if_changed
from streamstack.storage.keys import LIVE_MASTER_NAMES

LOW_LATENCY_PLAYLIST = "ll.m3u8"
DELTA_PLAYLIST = "ll_skip.m3u8"
ORIGIN_RETRY_SECONDS = 0.2
GUARD_SECONDS = 0.04  # the first look at a part comes this long after it is due (write time, encoder jitter)
FINE_POLL_SECONDS = 0.05  # then a look this often until it is there (answers within 100 ms)
CREEP_SECONDS = 0.002  # undated stores: a part found at the first look moves the next first look this much earlier
LATE_SHIFT = 0.5  # a part later than its grid moves the grid this share of the way (an early one: all the way)
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

    def follows(self, previous: LiveEdge) -> bool:
        """This edge is at most one part newer than `previous` (no version was published between the two)."""
        mine, theirs = (self.last_msn, self.last_part), (previous.last_msn, previous.last_part)
        return mine <= (theirs[0], theirs[1] + 1) or mine == (theirs[0] + 1, 0)

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


def next_poll_delay(since_due: float, part_target: float, fine: float = FINE_POLL_SECONDS) -> float:
    """Seconds until the next look at a playlist whose next part was due `since_due` seconds ago (< 0: not yet).

    Asleep until the part is due plus GUARD_SECONDS, then every `fine` seconds for LATE_PARTS part
    targets (a busy encoder's jitter), then backing off by half the time it has been late (a stalled
    encoder, a publisher gone), never slower than one part target.
    """
    if since_due < GUARD_SECONDS:
        return GUARD_SECONDS - since_due
    late = since_due - LATE_PARTS * part_target
    if late <= 0:
        return fine
    return min(part_target, max(fine, late / 2))


def on_grid(grid: float | None, published: float, part_target: float) -> float:
    """When the part just seen was due, given the grid (when the previous one was due) and when it was published.

    Parts come a part target apart in real time: a part earlier than the grid moves it there (the grid is the
    earliest the encoder delivers), a later one only LATE_SHIFT of the way (one late part is jitter, not a new
    phase), and one more than LATE_PARTS part targets late restarts it (a stall, a reconnect).
    """
    if grid is None:
        return published
    steps = max(1, round((published - grid) / part_target))
    due = grid + steps * part_target
    late = published - due
    if late <= 0 or late > LATE_PARTS * part_target:
        return published
    return due + LATE_SHIFT * late


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
    due: float | None = None  # monotonic: when the current version was due on the grid of part publications
    hurry: bool = False  # the encoder is catching up (parts came quicker than the grid): look again soon
    missed_at: float | None = None  # the last look that found nothing newer than the current version
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    reading: asyncio.Future[None] | None = None  # the look under way, shared by whoever needs one meanwhile
    last_wanted: float = 0.0
    delta: tuple[str, asyncio.Future[bytes]] | None = None  # the delta update read for a version

    def since_due(self, now: float) -> float:
        """Seconds since the next part was due (negative: not yet); a watch that never saw a part looks now."""
        part_target = self.edge.part_target if self.edge is not None else 1.0
        return 0.0 if self.due is None else now - self.due - part_target


@dataclass
class LivePlaylists:
    """The edge's live watches, keyed by the LL playlist's object key."""

    store: ObjectStore
    offload: Offload
    fine_poll_seconds: float = FINE_POLL_SECONDS
    origin_looks: int = 0  # conditional reads of LL playlists (one origin request each; 304 when unchanged)
    origin_reads: int = 0  # of which found a new version (one per published version)
    delta_reads: int = 0  # delta updates read (at most one per version, only when a player asks for one)
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
        body = await self._delta(watch) if request.skip else watch.body
        return body, BLOCKING_MAX_AGE if request.blocks else LIVE_PLAYLIST_MAX_AGE

    async def delta(self, key: str) -> bytes:
        """The delta update of a watched LL playlist (`{rendition}/ll_skip.m3u8`), read once per version."""
        return await self._delta(await self._current(key))

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

    async def _delta(self, watch: _Watch) -> bytes:
        """The packager writes the delta before the LL playlist, so the one read now names at least as much."""
        version = watch.version or ""
        if watch.delta is None or watch.delta[0] != version:
            delta_key = watch.key[: -len(LOW_LATENCY_PLAYLIST)] + DELTA_PLAYLIST
            watch.delta = (version, asyncio.ensure_future(self.offload(lambda: b"".join(self.store.get(delta_key)))))
            self.delta_reads += 1
        read: asyncio.Future[bytes] = watch.delta[1]
        try:
            return await asyncio.shield(read)
        except BaseException:
            if read.done() and watch.delta is not None and watch.delta[1] is read:
                watch.delta = None  # a failed read is not kept: the next request tries again
            raise

    async def _current(self, key: str) -> _Watch:
        watch = self._watches.get(key)
        if watch is None:
            watch = self._watches[key] = _Watch(key)
        watch.last_wanted = time.monotonic()
        if watch.task is None or watch.task.done():  # nobody kept it fresh: read it now
            await self._look(watch)
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
        """One loop per playlist while anyone waited recently: a look when a part is due, the body on change."""
        while time.monotonic() - watch.last_wanted < IDLE_WATCH_SECONDS:
            part_target = watch.edge.part_target if watch.edge is not None else 1.0
            since_due = watch.since_due(time.monotonic())
            await asyncio.sleep(self.fine_poll_seconds if watch.hurry else next_poll_delay(
                since_due, part_target, self.fine_poll_seconds))  # fmt: skip
            try:
                await self._look(watch)
            except StorageUnavailable:  # an origin blink must not end the watch its waiters depend on
                log.warning("live playlist %s: origin unavailable, still watching", watch.key, exc_info=True)
                await asyncio.sleep(ORIGIN_RETRY_SECONDS)
                continue
            if watch.edge is not None and watch.edge.ended:
                break
        self._watches.pop(watch.key, None)

    async def _look(self, watch: _Watch) -> None:
        """Viewers arriving together at an unwatched playlist share one look (each used to move the grid a part)."""
        if watch.reading is None or watch.reading.done():
            watch.reading = asyncio.ensure_future(self._refresh(watch))
        await asyncio.shield(watch.reading)

    async def _refresh(self, watch: _Watch) -> None:
        """One look: a conditional read of the playlist; a new version moves the grid of part publications."""
        looked_at = time.monotonic()
        self.origin_looks += 1
        try:
            found = await self.offload(read_if_changed, self.store, watch.key, watch.version)
        except ObjectNotFound:
            return
        if found is None or found.info.etag == watch.version:
            watch.missed_at, watch.hurry = looked_at, False
            return
        self.origin_reads += 1
        edge = live_edge_of(found.body)
        published = self._published(watch, found, looked_at)
        first, previous = watch.version is None, watch.edge
        # parts came quicker than the grid (a version unseen, or one there half a part before its look): catching up
        watch.hurry = not first and (previous is not None and not edge.follows(previous)
                                     or published < looked_at - edge.part_target / 2)
        watch.body, watch.version, watch.edge = found.body, found.info.etag, edge
        # a playlist read for the first time was published at some moment unknown: look again closely at once
        watch.due = None if first and found.written_at is None else on_grid(watch.due, published, edge.part_target)
        watch.missed_at = None
        watch.changed.set()

    @staticmethod
    def _published(watch: _Watch, found: Changed, looked_at: float) -> float:
        """When the version just read was published (monotonic): never after the look that found it."""
        return min(looked_at, LivePlaylists._estimated_publication(watch, found, looked_at))

    @staticmethod
    def _estimated_publication(watch: _Watch, found: Changed, looked_at: float) -> float:
        """As the store dates it, else bracketed by looks, else when it was due."""
        if found.written_at is not None:
            return found.written_at - time.time() + time.monotonic()
        if watch.missed_at is not None:
            return (watch.missed_at + looked_at) / 2
        if watch.due is not None and watch.edge is not None:  # found at the first look: on time, or earlier
            return watch.due + watch.edge.part_target - CREEP_SECONDS  # so look a little earlier next time
        return looked_at - GUARD_SECONDS - CREEP_SECONDS
