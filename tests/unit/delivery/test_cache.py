"""CoalescingLRU: byte budget, LRU order, freshness, coalescing, failures and cancellation."""

from __future__ import annotations

import asyncio

import pytest

from streamstack.delivery.cache import CoalescingLRU, Loaded

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def lru(budget: int = 10, **kwargs) -> CoalescingLRU[bytes]:  # type: ignore[no-untyped-def]
    return CoalescingLRU(budget, weigh=len, **kwargs)


async def value(data: bytes, ttl: float | None = None) -> Loaded[bytes]:
    return Loaded(data, ttl)


async def test_evicts_least_recently_used_to_stay_in_budget():
    cache = lru(10)
    await cache.get("a", value, b"aaaa")
    await cache.get("b", value, b"bbbb")
    await cache.get("a", value, b"xxxx")  # hit: a becomes most recent
    await cache.get("c", value, b"cccc")
    assert "a" in cache and "c" in cache and "b" not in cache
    assert cache.weight == 8 and cache.stats.evictions == 1
    assert cache.stats.hits == 1 and cache.stats.hit_bytes == 4 and cache.stats.misses == 3


async def test_items_over_the_item_limit_are_served_but_not_kept():
    cache = lru(100, max_item_weight=3)
    assert await cache.get("big", value, b"abcd") == b"abcd"
    assert "big" not in cache and cache.weight == 0


async def test_stale_entries_are_reloaded():
    now = [0.0]
    cache = lru(100, clock=lambda: now[0])
    await cache.get("p", value, b"v1", 2.0)
    now[0] = 1.0
    assert await cache.get("p", value, b"v2", 2.0) == b"v1"
    now[0] = 3.0
    assert await cache.get("p", value, b"v2", 2.0) == b"v2"


async def test_concurrent_misses_share_one_load():
    cache = lru(100)
    calls = 0

    async def slow() -> Loaded[bytes]:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.05)
        return Loaded(b"data")

    results = await asyncio.gather(*(cache.get("k", slow) for _ in range(1000)))
    assert calls == 1 and set(results) == {b"data"}
    assert cache.stats.misses == 1 and cache.stats.coalesced == 999 and cache.stats.coalesced_bytes == 999 * 4


async def test_a_failed_load_reaches_every_waiter_and_is_not_cached():
    cache = lru(100)

    async def broken() -> Loaded[bytes]:
        await asyncio.sleep(0.01)
        raise KeyError("gone")

    results = await asyncio.gather(*(cache.get("k", broken) for _ in range(3)), return_exceptions=True)
    assert all(isinstance(r, KeyError) for r in results)
    assert "k" not in cache and cache.stats.origin_errors == 1
    assert await cache.get("k", value, b"back") == b"back"


async def test_a_cancelled_viewer_does_not_cancel_the_load_for_others():
    cache = lru(100)

    async def slow() -> Loaded[bytes]:
        await asyncio.sleep(0.05)
        return Loaded(b"ok")

    first = asyncio.create_task(cache.get("k", slow))
    second = asyncio.create_task(cache.get("k", slow))
    await asyncio.sleep(0.01)
    first.cancel()
    assert await second == b"ok"
    assert "k" in cache


async def test_an_expired_entry_answers_while_one_background_load_refreshes_it():
    now = [0.0]
    cache = lru(100, clock=lambda: now[0], stale_seconds=5.0)
    release = asyncio.Event()
    loads = 0

    async def slow(data: bytes) -> Loaded[bytes]:
        nonlocal loads
        loads += 1
        await release.wait()
        return Loaded(data, 2.0)

    release.set()
    assert await cache.get("p", slow, b"v1") == b"v1"
    release.clear()
    now[0] = 3.0  # expired: every reader gets v1 at once, one load runs behind them
    assert await asyncio.gather(*(cache.get("p", slow, b"v2") for _ in range(50))) == [b"v1"] * 50
    assert loads == 2 and cache.stats.stale == 50 and "p" not in cache
    release.set()
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await cache.get("p", slow, b"v3") == b"v2" and loads == 2


async def test_an_entry_expired_for_longer_than_the_stale_window_waits_for_its_load():
    now = [0.0]
    cache = lru(100, clock=lambda: now[0], stale_seconds=5.0)
    await cache.get("p", value, b"v1", 2.0)
    now[0] = 7.5
    assert await cache.get("p", value, b"v2", 2.0) == b"v2" and cache.stats.stale == 0


async def test_a_failed_refresh_keeps_answering_stale_and_is_retried():
    now = [0.0]
    cache = lru(100, clock=lambda: now[0], stale_seconds=5.0)
    await cache.get("p", value, b"v1", 2.0)
    now[0] = 3.0

    async def broken() -> Loaded[bytes]:
        raise OSError("catalog down")

    assert await cache.get("p", broken) == b"v1"
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert cache.stats.origin_errors == 1
    assert await cache.get("p", value, b"v2", 2.0) == b"v1"  # stale again, and a new load started
    await asyncio.sleep(0)
    await asyncio.sleep(0)
    assert await cache.get("p", value, b"v3", 2.0) == b"v2"


def test_hit_answers_only_a_fresh_value_and_counts_it_as_lookup_would() -> None:
    now = [0.0]
    cache: CoalescingLRU[str | None] = CoalescingLRU(10, weigh=lambda _: 1, clock=lambda: now[0])
    assert cache.hit("a") is None and cache.stats.hits == 0
    cache.put("a", "value", ttl=1.0)
    cache.put("unknown", None, ttl=1.0)  # a cached "no such id": lookup answers it
    assert cache.hit("a") == "value" and cache.stats.hits == 1
    assert cache.hit("unknown") is None and cache.stats.hits == 1
    now[0] = 1.0
    assert cache.hit("a") is None and cache.stats.hits == 1  # expired: lookup reloads it
