"""The edge's blocking playlist reload: one watch per playlist, looking at the origin only when a part may be due."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from streamstack.delivery.live import (
    FINE_POLL_SECONDS,
    BlockingRequest,
    LivePlaylists,
    NotYetAvailable,
    live_edge_of,
    next_poll_delay,
)
from streamstack.storage.base import ObjectInfo, ObjectNotFound

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
    """One playlist object in memory; counts HEADs and GETs (S3 requests)."""

    def __init__(self) -> None:
        self.body: bytes | None = None
        self.version = 0
        self.heads = self.gets = 0

    def publish(self, body: bytes) -> None:
        self.body, self.version = body, self.version + 1

    def head(self, key: str) -> ObjectInfo:
        self.heads += 1
        if self.body is None:
            raise ObjectNotFound(key)
        return ObjectInfo(key, len(self.body), str(self.version), 0.0)

    def get(self, key: str, **_: Any) -> Iterator[bytes]:
        self.gets += 1
        assert self.body is not None
        return iter([self.body])


async def direct(function: Any, *args: Any) -> Any:
    return function(*args)


def test_the_poll_sleeps_until_a_part_is_due_then_looks_closely_then_backs_off() -> None:
    assert next_poll_delay(0.0, 0.5) == pytest.approx(0.4), "asleep until just before the next part is due"
    assert next_poll_delay(0.39, 0.5) == FINE_POLL_SECONDS
    assert next_poll_delay(0.45, 0.5) == FINE_POLL_SECONDS, "looking closely around the due time"
    assert next_poll_delay(1.85, 0.5) == FINE_POLL_SECONDS, "a busy encoder's late part is still seen at once"
    late = [next_poll_delay(t, 0.5) for t in (1.95, 2.3, 3.0, 10.0)]
    assert late == sorted(late) and late[0] == FINE_POLL_SECONDS and late[-1] == 0.5, "backing off to a part target"


def test_the_part_target_is_read_from_the_playlist() -> None:
    assert live_edge_of(playlist(3, part_target=0.33367)).part_target == pytest.approx(0.33367)


def test_waiters_get_each_part_from_one_read_and_a_few_looks_per_part() -> None:
    store = CountingStore()
    live = LivePlaylists(store, direct)  # type: ignore[arg-type]
    parts, viewers = 15, 5
    answered: list[tuple[int, float]] = []  # (part index, seconds after it was published)
    published: dict[int, float] = {}

    async def publisher() -> None:
        for count in range(1, parts + 1):
            store.publish(playlist(count))
            published[count - 1] = time.monotonic()
            await asyncio.sleep(PART)

    async def viewer() -> None:
        for index in range(1, parts):
            msn, part = divmod(index, 4)
            body, max_age = await live.playlist(KEY, BlockingRequest(msn, part))
            assert f'URI="{msn}.{part}.m4s"'.encode() in body and max_age == 60
            answered.append((index, time.monotonic() - published[index]))

    async def run() -> None:
        store.publish(playlist(0))
        await live.playlist(KEY, BlockingRequest())
        await asyncio.gather(publisher(), *(viewer() for _ in range(viewers)))

    asyncio.run(run())
    assert len(answered) == viewers * (parts - 1)
    assert store.gets <= parts + 1, "one body read per published version, however many viewers wait"
    assert store.heads <= 4 * parts, f"{store.heads} metadata reads for {parts} parts: polling, not waiting"


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
    assert store.heads <= 3 / PART + 3 / FINE_POLL_SECONDS / 2, "backed off while nothing came"
