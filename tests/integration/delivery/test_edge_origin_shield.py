"""Two tiers: an edge reading through another edge (the origin shield) over HTTP, never the store itself."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn

from streamstack.delivery.app import EdgeApp, create_edge_app
from streamstack.delivery.live import BlockingRequest, LivePlaylists
from streamstack.platform import Platform, build_platform
from streamstack.settings import Settings
from streamstack.storage.base import Changed, ConditionalStore, ObjectNotFound, ObjectStore, StorageUnavailable
from streamstack.storage.edge_origin import TOKEN_HEADER, EdgeOriginStore
from tests.conftest import free_port, wait_until
from tests.integration.delivery.conftest import EDGE, SEGMENT, Media

TOKEN = "shield-secret"
LL_PLAYLIST = '#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-PART:DURATION=0.5,URI="0.0.m4s"\n'


class CountingStore:
    """The shield's store, counting body reads per key (a conditional read that found a change is one)."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner, self.bucket, self.reads = inner, inner.bucket, Counter[str]()

    def get(self, key: str, **kwargs: Any) -> Any:
        self.reads[key] += 1
        return self.inner.get(key, **kwargs)

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        assert isinstance(self.inner, ConditionalStore)
        found = self.inner.get_if_changed(key, etag)
        self.reads[key] += found is not None
        return found

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@pytest.fixture
def shield(edge_settings: Settings, media: Media) -> Iterator[tuple[str, CountingStore]]:
    settings = Settings(**{**edge_settings.model_dump(), "edge_origin_token": TOKEN, "edge_admin_port": 0})
    platform = build_platform(settings, with_queues=False)
    app = create_edge_app(platform)
    store = CountingStore(app.store)
    app.store = app.live.store = store  # type: ignore[assignment]
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_config=None, access_log=False))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{port}"
    wait_until(lambda: _answers(base + "/healthz"), 30, "the shield")
    yield base, store
    server.should_exit = True
    thread.join(10)
    platform.close()


@pytest.fixture
def viewer_edge(edge_settings: Settings, shield: tuple[str, CountingStore]) -> Iterator[EdgeApp]:
    settings = Settings(**{**edge_settings.model_dump(), "edge_origin_url": shield[0], "edge_origin_token": TOKEN})
    platform: Platform = build_platform(settings, with_queues=False)
    app = create_edge_app(platform)
    yield app
    platform.close()


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.TransportError:
        return False


def test_an_edge_with_an_origin_url_reads_through_the_shield(viewer_edge: EdgeApp) -> None:
    assert isinstance(viewer_edge.store, EdgeOriginStore)
    assert isinstance(viewer_edge.live.store, EdgeOriginStore)


@pytest.mark.anyio
async def test_concurrent_viewers_behind_two_tiers_cost_the_store_one_read(
    viewer_edge: EdgeApp, shield: tuple[str, CountingStore], media: Media
) -> None:
    store = shield[1]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=viewer_edge), base_url=EDGE) as http:
        url = f"/{media.public_id}/720p/seg_00001.m4s"
        responses = await asyncio.gather(*(http.get(url) for _ in range(50)))
        partial = await http.get(url, headers={"Range": "bytes=10-19"})
        missing = await http.get(f"/{media.public_id}/720p/seg_09999.m4s")
    assert all(r.status_code == 200 and r.content == SEGMENT[::-1] for r in responses)
    assert partial.status_code == 206 and partial.content == SEGMENT[::-1][10:20]
    assert missing.status_code == 404
    assert store.reads[f"assets/{media.asset_id}/720p/seg_00001.m4s"] == 1


def test_the_origin_path_needs_the_token_and_a_valid_key(shield: tuple[str, CountingStore], media: Media) -> None:
    base, _ = shield
    url = f"{base}/_origin/assets/{media.asset_id}/720p/seg_00000.m4s"
    assert httpx.get(url).status_code == 404
    assert httpx.get(url, headers={TOKEN_HEADER: "wrong"}).status_code == 404
    assert httpx.get(url, headers={TOKEN_HEADER: TOKEN}).content == SEGMENT
    escape = f"{base}/_origin/assets/{media.asset_id}/%2e%2e/%2e%2e/edge.db"
    assert httpx.get(escape, headers={TOKEN_HEADER: TOKEN}).status_code == 404
    assert httpx.post(url, headers={TOKEN_HEADER: TOKEN}).status_code == 405


def test_the_shield_answers_live_playlists_from_its_watch(
    shield: tuple[str, CountingStore], edge_platform: Platform, media: Media
) -> None:
    base, store = shield
    key = f"assets/{media.asset_id}/live/ll.m3u8"
    edge_platform.store.put(key, [LL_PLAYLIST.encode()])
    origin = EdgeOriginStore(base, TOKEN, "b")
    try:
        first = [origin.head(key) for _ in range(20)]
        body = b"".join(origin.get(key))
        assert body == LL_PLAYLIST.encode() and len({info.etag for info in first}) == 1
        assert store.reads[key] == 1  # twenty metadata polls and a read: one read of the store
        found = origin.get_if_changed(key, None)
        assert found is not None and found.body == body and found.info.etag == first[0].etag
        assert origin.get_if_changed(key, found.info.etag) is None, "the version it has: a 304, no body"
        with pytest.raises(ObjectNotFound):
            origin.head(f"assets/{media.asset_id}/nothing.m4s")
        with pytest.raises(StorageUnavailable):
            origin.put(key, [b"x"])
    finally:
        origin.close()
    with pytest.raises(StorageUnavailable):
        EdgeOriginStore("http://127.0.0.1:9", TOKEN, "b").head(key)


def test_an_origin_url_without_a_token_is_refused(edge_settings: Settings) -> None:
    settings = Settings(**{**edge_settings.model_dump(), "edge_origin_url": "http://127.0.0.1:9"})
    platform = build_platform(settings, with_queues=False)
    try:
        with pytest.raises(ValueError, match="edge_origin_token"):
            create_edge_app(platform)
    finally:
        platform.close()


class BlinkingStore(CountingStore):
    """The real store behind an origin that fails while `down` (a shield restarting, a network blip)."""

    down = False

    def head(self, key: str) -> Any:
        if self.down:
            raise StorageUnavailable("origin down")
        return self.inner.head(key)

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        if self.down:
            raise StorageUnavailable("origin down")
        return super().get_if_changed(key, etag)


@pytest.mark.anyio
async def test_a_live_watch_survives_an_origin_blink(edge_platform: Platform) -> None:
    key = "assets/blink/720p/ll.m3u8"
    edge_platform.store.put(key, [LL_PLAYLIST.encode()])
    store = BlinkingStore(edge_platform.store)
    live = LivePlaylists(store, lambda fn, *args: asyncio.to_thread(fn, *args))  # type: ignore[arg-type]
    await live.playlist(key, BlockingRequest())
    store.down = True
    waiter = asyncio.create_task(live.playlist(key, BlockingRequest(msn=0, part=1)))
    await asyncio.sleep(0.3)  # the watch polls a failing origin meanwhile
    store.down = False
    edge_platform.store.put(key, [(LL_PLAYLIST + '#EXT-X-PART:DURATION=0.5,URI="0.1.m4s"\n').encode()])
    body, _ = await asyncio.wait_for(waiter, 5)
    assert b'URI="0.1.m4s"' in body
