"""Async LRU with a byte budget and request coalescing: one origin read per key, however many wait."""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Generic, Literal, TypeVar

T = TypeVar("T")
CacheResult = Literal["hit", "miss", "coalesced"]


@dataclass
class CacheStats:
    """By request and by byte (weight), so hit ratios can be read either way."""

    hits: int = 0
    misses: int = 0
    coalesced: int = 0
    hit_bytes: int = 0
    miss_bytes: int = 0
    coalesced_bytes: int = 0
    evictions: int = 0
    origin_errors: int = 0
    stale: int = 0  # answered from an expired entry while it was reloaded

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class Loaded(Generic[T]):
    """What a loader returns: the value and how long it stays fresh (None: until evicted)."""

    value: T
    ttl: float | None = None


@dataclass
class _Entry(Generic[T]):
    value: T
    weight: int
    expires_at: float | None


class CoalescingLRU(Generic[T]):
    """LRU bounded by total weight; a miss starts one load that every concurrent request for the key awaits.

    The load runs as its own task, so a viewer who disconnects does not cancel it for the others.
    Values heavier than `max_item_weight` are handed out but not kept. With `stale_seconds`, an entry that
    expired less than that long ago is still answered while one load refreshes it in the background
    (stale-while-revalidate): its readers never all wait for the reload together.
    """

    def __init__(
        self,
        max_weight: int,
        *,
        weigh: Callable[[T], int],
        max_item_weight: int | None = None,
        clock: Callable[[], float] = time.monotonic,
        stale_seconds: float = 0.0,
    ):
        self.max_weight = max_weight
        self.stale_seconds = stale_seconds
        self.max_item_weight = max_weight if max_item_weight is None else min(max_item_weight, max_weight)
        self.weight = 0
        self.stats = CacheStats()
        self._weigh = weigh
        self._clock = clock
        self._entries: OrderedDict[str, _Entry[T]] = OrderedDict()
        self._inflight: dict[str, asyncio.Task[T]] = {}

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, key: str) -> bool:
        return self.peek(key) is not None

    def peek(self, key: str) -> T | None:
        """The fresh value if present, without counting or reordering."""
        entry = self._entries.get(key)
        if entry is None or (entry.expires_at is not None and entry.expires_at <= self._clock()):
            return None
        return entry.value

    def hit(self, key: str) -> T | None:
        """The fresh value, counted as a hit, without a coroutine (the hot path's common case).

        None: ask `lookup` (absent, expired, or a cached None, which lookup answers and counts).
        """
        entry = self._entries.get(key)
        if entry is None or entry.value is None or (entry.expires_at is not None and entry.expires_at <= self._clock()):
            return None
        self._entries.move_to_end(key)
        self.stats.hits += 1
        self.stats.hit_bytes += entry.weight
        return entry.value

    def hit_if(self, key: str, value: T) -> bool:
        """True, counted as a hit, when `value` is still the fresh cached value of key (an answer built on it)."""
        entry = self._entries.get(key)
        if entry is None or entry.value is not value:
            return False
        if entry.expires_at is not None and entry.expires_at <= self._clock():
            return False
        self._entries.move_to_end(key)
        self.stats.hits += 1
        self.stats.hit_bytes += entry.weight
        return True

    async def get(self, key: str, load: Callable[..., Awaitable[Loaded[T]]], *args: Any) -> T:
        """The cached value, or the result of the one in-flight `load(*args)` for this key."""
        return (await self.lookup(key, load, *args))[0]

    async def lookup(self, key: str, load: Callable[..., Awaitable[Loaded[T]]], *args: Any) -> tuple[T, CacheResult]:
        """Like get, and says how the value was obtained: "hit", "miss" (this request loaded it) or "coalesced"."""
        entry = self._entries.get(key)
        if entry is not None and (entry.expires_at is None or entry.expires_at > self._clock()):
            self._entries.move_to_end(key)
            self.stats.hits += 1
            self.stats.hit_bytes += entry.weight
            return entry.value, "hit"
        task = self._inflight.get(key)
        if entry is not None and entry.expires_at is not None and self._clock() < entry.expires_at + self.stale_seconds:
            if task is None:
                self._start(key, load, args)
            self._entries.move_to_end(key)
            self.stats.stale += 1
            return entry.value, "hit"
        if task is None:
            task = self._start(key, load, args)
            self.stats.misses += 1
            value = await asyncio.shield(task)
            self.stats.miss_bytes += self._weigh(value)
            return value, "miss"
        self.stats.coalesced += 1
        value = await asyncio.shield(task)
        self.stats.coalesced_bytes += self._weigh(value)
        return value, "coalesced"

    def _start(self, key: str, load: Callable[..., Awaitable[Loaded[T]]], args: tuple[Any, ...]) -> asyncio.Task[T]:
        task = asyncio.get_running_loop().create_task(self._fill(key, load(*args)))
        task.add_done_callback(_retrieve_exception)
        self._inflight[key] = task
        return task

    async def _fill(self, key: str, load: Awaitable[Loaded[T]]) -> T:
        try:
            loaded = await load
        except BaseException:
            self.stats.origin_errors += 1
            raise
        finally:
            self._inflight.pop(key, None)
        self.put(key, loaded.value, ttl=loaded.ttl)
        return loaded.value

    def put(self, key: str, value: T, *, ttl: float | None = None) -> None:
        """Insert (or replace) and evict least-recently-used entries until the budget holds."""
        self.discard(key)
        weight = self._weigh(value)
        if weight > self.max_item_weight:
            return
        expires_at = None if ttl is None else self._clock() + ttl
        self._entries[key] = _Entry(value, weight, expires_at)
        self.weight += weight
        while self.weight > self.max_weight and self._entries:
            _, evicted = self._entries.popitem(last=False)
            self.weight -= evicted.weight
            self.stats.evictions += 1

    def discard(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self.weight -= entry.weight

    def clear(self) -> None:
        self._entries.clear()
        self.weight = 0


def _retrieve_exception(task: asyncio.Task[object]) -> None:
    """Mark a failed load's exception as seen even when every waiter went away first."""
    if not task.cancelled():
        task.exception()
