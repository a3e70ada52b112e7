"""The edge's blocking playlist reload: one watch per playlist, looking at the origin about once per part."""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Iterator
from typing import Any

import pytest

from streamstack.delivery.live import (
    FINE_POLL_SECONDS,
    GUARD_SECONDS,
    LATE_SHIFT,
    BlockingRequest,
    LivePlaylists,
    NotYetAvailable,
    live_edge_of,
    next_poll_delay,
    on_grid,
)
from streamstack.storage.base import Changed, ObjectInfo, ObjectNotFound

KEY = "assets/a/360p/ll.m3u8"
PART = 0.2


def playlist(parts: int, part_target: float = PART, per_segment: int = 4) -> bytes:
    """An LL-HLS playlist naming `parts` parts, `per_segment` to a segment."""
    lines = ["#EXTM3U", "#EXT-X-TARGETDURATION:1", f"#EXT-X-PART-INF:PART-TARGET={part_target:.5f}",
             "#EXT-X-MEDIA-SEQUENCE:0"]  # fmt: skip
    for index in range(parts):
        msn, part = divmod(index, per_segment)
        lines.append(f'#EXT-X-PART:DURATION={part_target:.5f},URI="{msn}.{part}.m4s"')
        if part == per_segment - 1:
            lines += [f"#EXTINF:{part_target * per_segment:.5f},", f"{msn}.m4s"]
    return ("\n".join(lines) + "\n").encode()


class CountingStore:
    """One LL playlist and its delta in memory; counts every request as S3 would bill it.

    `dated`: conditional reads say when the version appeared (as a local folder's ctime does); otherwise they do
    not (S3). `conditional=False`: a store with HEAD and GET only."""

    def __init__(self, *, dated: bool = True) -> None:
        self.body: bytes | None = None
        self.version = 0
        self.written_at = 0.0
        self.dated = dated
        self.heads = self.gets = self.looks = self.delta_gets = 0

    def publish(self, body: bytes) -> None:
        self.body, self.version, self.written_at = body, self.version + 1, time.time()

    @property
    def requests(self) -> int:
        return self.heads + self.gets + self.looks

    def head(self, key: str) -> ObjectInfo:
        self.heads += 1
        if self.body is None:
            raise ObjectNotFound(key)
        return ObjectInfo(key, len(self.body), str(self.version), 0.0)

    def get(self, key: str, **_: Any) -> Iterator[bytes]:
        assert self.body is not None
        if key.endswith("ll_skip.m3u8"):
            self.delta_gets += 1
            return iter([b"#DELTA " + str(self.version).encode()])
        self.gets += 1
        return iter([self.body])

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        self.looks += 1
        if self.body is None:
            raise ObjectNotFound(key)
        if etag == str(self.version):
            return None
        info = ObjectInfo(key, len(self.body), str(self.version), 0.0)
        return Changed(info, self.body, self.written_at if self.dated else None)


class HeadGetStore(CountingStore):
    """A store without conditional reads: the watch falls back to HEAD, then GET on a change."""

    get_if_changed = None  # type: ignore[assignment]


async def direct(function: Any, *args: Any) -> Any:
    return function(*args)


async def direct_after_a_while(function: Any, *args: Any) -> Any:
    """As the edge's thread pool answers: the caller yields while the read is under way."""
    await asyncio.sleep(0.01)
    return function(*args)


def test_the_first_look_comes_just_after_the_part_is_due_then_closely_then_backing_off() -> None:
    assert next_poll_delay(-0.46, 0.5) == pytest.approx(0.46 + GUARD_SECONDS), "asleep until the part is due"
    assert next_poll_delay(GUARD_SECONDS, 0.5) == FINE_POLL_SECONDS, "then looking closely"
    assert next_poll_delay(1.45, 0.5) == FINE_POLL_SECONDS, "a busy encoder's late part is still seen at once"
    late = [next_poll_delay(t, 0.5) for t in (1.55, 1.9, 3.0, 10.0)]
    assert late == sorted(late) and late[0] == FINE_POLL_SECONDS and late[-1] == 0.5, "backing off to a part target"


def test_the_grid_follows_early_parts_at_once_and_late_ones_slowly() -> None:
    assert on_grid(None, 10.0, 0.5) == 10.0
    assert on_grid(10.0, 10.48, 0.5) == pytest.approx(10.48), "earlier than due: the encoder can deliver then"
    assert on_grid(10.0, 10.6, 0.5) == pytest.approx(10.5 + LATE_SHIFT * 0.1), "one late part is mostly jitter"
    assert on_grid(10.0, 11.02, 0.5) == pytest.approx(11.0 + LATE_SHIFT * 0.02), "a version missed: two parts on"
    assert on_grid(10.0, 13.0, 0.5) == 13.0, "a stall or a reconnect: a new grid"


def test_the_part_target_is_read_from_the_playlist() -> None:
    assert live_edge_of(playlist(3, part_target=0.33367)).part_target == pytest.approx(0.33367)


def follow(store: CountingStore, *, parts: int = 15, viewers: int = 5, jitter: float = 0.0,
           skip: bool = False) -> list[float]:
    """A publisher (a part every PART, plus up to `jitter` late) and viewers following with blocking reloads:
    every viewer gets every part; returns each answer's delay past the part's publication."""
    live = LivePlaylists(store, direct)  # type: ignore[arg-type]
    answered: list[float] = []
    published: dict[int, float] = {}
    rng = random.Random(12)

    async def publisher() -> None:
        started = time.monotonic()
        for count in range(1, parts + 1):
            await asyncio.sleep(max(0.0, started + count * PART + rng.uniform(0, jitter) - time.monotonic()))
            store.publish(playlist(count))
            published[count - 1] = time.monotonic()

    async def viewer() -> None:
        for index in range(1, parts):
            msn, part = divmod(index, 4)
            body, max_age = await live.playlist(KEY, BlockingRequest(msn, part, skip))
            if skip:
                assert body.startswith(b"#DELTA ") and int(body.split()[1]) >= index + 1
            else:
                assert f'URI="{msn}.{part}.m4s"'.encode() in body and max_age == 60
            answered.append(time.monotonic() - published[index])

    async def run() -> None:
        store.publish(playlist(1))
        published[0] = time.monotonic()
        await live.playlist(KEY, BlockingRequest())
        await asyncio.gather(publisher(), *(viewer() for _ in range(viewers)))

    asyncio.run(run())
    assert len(answered) == viewers * (parts - 1)
    return answered


def test_waiters_get_each_part_from_about_one_request_when_the_store_dates_its_writes() -> None:
    store, parts = CountingStore(dated=True), 15
    delays = follow(store, parts=parts, jitter=0.02)
    assert store.gets == store.heads == 0, "conditional reads only"
    assert store.looks <= 1.3 * parts, f"{store.looks} requests for {parts} parts of 5 viewers: looking, not polling"
    assert statistics.median(delays) < 0.1, "answered within 100 ms of publication"


def test_waiters_get_each_part_from_about_one_request_on_an_undated_store() -> None:
    store, parts = CountingStore(dated=False), 15
    delays = follow(store, parts=parts, jitter=0.02)
    assert store.looks <= 1.6 * parts, f"{store.looks} requests for {parts} parts: bracketing, not polling"
    assert statistics.median(delays) < 0.1


def test_a_store_without_conditional_reads_costs_a_head_per_look_and_a_get_per_part() -> None:
    store, parts = HeadGetStore(), 15
    follow(store, parts=parts)
    assert store.looks == 0 and store.gets <= parts + 1, "one body read per published version"
    assert store.heads <= 1.6 * parts


def test_delta_updates_are_read_once_per_version_however_many_viewers_ask() -> None:
    store, parts = CountingStore(), 9
    follow(store, parts=parts, viewers=6, skip=True)
    assert store.delta_gets <= parts, f"{store.delta_gets} delta reads for {parts} parts of six viewers"


def test_a_part_that_never_comes_times_out_after_three_targets_without_hammering_the_origin() -> None:
    store = CountingStore()
    store.publish(playlist(2))
    live = LivePlaylists(store, direct)  # type: ignore[arg-type]

    async def run() -> None:
        with pytest.raises(NotYetAvailable):
            await live.playlist(KEY, BlockingRequest(0, 3))

    started = time.monotonic()
    asyncio.run(run())
    waited = time.monotonic() - started
    assert waited >= 3 * 1 - 0.05  # three target durations (TARGETDURATION 1)
    assert store.looks <= 3 / PART + 3 / FINE_POLL_SECONDS / 2, "backed off while nothing came"



def test_viewers_arriving_together_at_a_new_watch_do_not_push_its_next_look_into_the_future() -> None:
    """Many first requests at once read the playlist once, and the watch then looks when each part is due.

    Each of them used to read it and date the same version "one part after the last", so 70 viewers pressing
    play together moved the grid seconds past real time: the watch slept while parts came and its waiters timed
    out with 503 (seen behind two tiers, where the store is the shield and undated)."""
    store, parts = CountingStore(dated=False), 8
    live = LivePlaylists(store, direct_after_a_while)  # type: ignore[arg-type]
    delays: list[float] = []

    async def run() -> None:
        store.publish(playlist(1))
        await asyncio.gather(*(live.playlist(KEY, BlockingRequest()) for _ in range(20)))
        assert store.looks == 1, "viewers arriving together share one read"
        for count in range(2, parts + 2):  # one part every PART, in real time
            waiting = asyncio.ensure_future(live.playlist(KEY, BlockingRequest(*divmod(count - 1, 4))))
            await asyncio.sleep(PART)
            store.publish(playlist(count))
            published = time.monotonic()
            await waiting
            delays.append(time.monotonic() - published)

    asyncio.run(run())
    assert max(delays) < 2 * PART, f"answers past publication: {[round(d, 3) for d in delays]}"
