"""HTTP semantics of the edge for a public playback id: types, caching, validators, ranges, HEAD, CORS."""

from __future__ import annotations

import asyncio
import threading
import time

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from streamstack.delivery.app import create_edge_app

from .conftest import EDGE, SEGMENT

pytestmark = pytest.mark.anyio


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        (".m3u8", "application/vnd.apple.mpegurl"),
        ("/720p/index.m3u8", "application/vnd.apple.mpegurl"),
        ("/720p/init.mp4", "video/mp4"),
        ("/720p/seg_00000.m4s", "video/iso.segment"),
        ("/thumbnail.jpg", "image/jpeg"),
        ("/storyboard.vtt", "text/vtt"),
    ],
)
async def test_content_types(client, media, path, content_type):
    response = await client.get(f"/{media.public_id}{path}")
    assert response.status_code == 200
    assert response.headers["content-type"] == content_type


async def test_cache_control_follows_what_can_still_change(client, media):
    async def cache_control(path: str) -> str:
        return (await client.get(path)).headers["cache-control"]

    assert await cache_control(f"/{media.public_id}/720p/seg_00000.m4s") == "public, max-age=31536000, immutable"
    assert await cache_control(f"/{media.public_id}/720p/init.mp4") == "public, max-age=31536000, immutable"
    assert await cache_control(f"/{media.public_id}/720p/index.m3u8") == "public, max-age=3600"
    assert await cache_control(f"/{media.public_id}.m3u8") == "public, max-age=300"
    assert await cache_control(f"/{media.event_public_id}/720p/index.m3u8") == "public, max-age=2"
    assert await cache_control(f"/{media.event_public_id}.m3u8") == "public, max-age=2"
    assert await cache_control(f"/{media.public_id}/thumbnail.jpg") == "public, max-age=3600"


async def test_master_child_uris_are_rewritten_under_the_playback_id(client, media):
    text = (await client.get(f"/{media.public_id}.m3u8")).text
    assert f"\n{media.public_id}/720p/index.m3u8\n" in text
    assert f'URI="{media.public_id}/audio/index.m3u8"' in text
    child = httpx.URL(f"{EDGE}/{media.public_id}.m3u8").join(f"{media.public_id}/720p/index.m3u8")
    assert (await client.get(child)).status_code == 200


async def test_max_resolution_filters_master_variants(client, media):
    text = (await client.get(f"/{media.public_id}.m3u8?max_resolution=720p")).text
    assert "720p/index.m3u8" in text and "360p/index.m3u8" in text
    assert "1080p" not in text and "1920x1080" not in text
    lowest = (await client.get(f"/{media.public_id}.m3u8?max_resolution=240p")).text
    assert lowest.count("#EXT-X-STREAM-INF") == 1 and "360p/index.m3u8" in lowest
    assert (await client.get(f"/{media.public_id}.m3u8?max_resolution=big")).status_code == 400


async def test_etag_and_if_none_match(client, media):
    for path in (f"/{media.public_id}/720p/seg_00000.m4s", f"/{media.public_id}.m3u8"):
        first = await client.get(path)
        etag = first.headers["etag"]
        assert etag.startswith('"') and first.headers["last-modified"].endswith("GMT")
        again = await client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304 and again.content == b""
        assert again.headers["etag"] == etag and "cache-control" in again.headers
        assert (await client.get(path, headers={"If-None-Match": '"other"'})).status_code == 200
    filtered = await client.get(f"/{media.public_id}.m3u8?max_resolution=360p")
    assert filtered.headers["etag"] != (await client.get(f"/{media.public_id}.m3u8")).headers["etag"]


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=10000-", 10000, len(SEGMENT) - 1),
        ("bytes=-40", len(SEGMENT) - 40, len(SEGMENT) - 1),
        ("bytes=100-999999", 100, len(SEGMENT) - 1),
    ],
)
async def test_range_requests(client, media, header, start, end):
    response = await client.get(f"/{media.public_id}/720p/seg_00000.m4s", headers={"Range": header})
    assert response.status_code == 206
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(SEGMENT)}"
    assert response.content == SEGMENT[start : end + 1]
    assert response.headers["content-length"] == str(end - start + 1)


async def test_unsatisfiable_and_ignored_ranges(client, media):
    path = f"/{media.public_id}/720p/seg_00000.m4s"
    response = await client.get(path, headers={"Range": f"bytes={len(SEGMENT)}-"})
    assert response.status_code == 416 and response.headers["content-range"] == f"bytes */{len(SEGMENT)}"
    assert (await client.get(path, headers={"Range": "bytes=0-1,5-6"})).status_code == 200
    assert (await client.get(path, headers={"Range": "bytes=0-1", "If-Range": '"stale"'})).status_code == 200


@pytest.mark.parametrize("header", ["bytes=²-", "bytes=1³-5", "bytes=-²", "bytes=٠-٩", "bytes=0x10-",
                                    f"bytes=0-{'9' * 5000}", f"bytes={'1' * 5000}-", "bytes=+1-2", "bytes=1_0-20"])
async def test_a_range_with_anything_but_ascii_digits_is_ignored_not_a_500(client, media, header):
    response = await client.get(f"/{media.public_id}/720p/seg_00000.m4s", headers={"Range": header.encode()})
    assert response.status_code == 200 and response.content == SEGMENT


async def test_head_has_headers_and_no_body(client, media):
    response = await client.head(f"/{media.public_id}/720p/seg_00000.m4s")
    assert response.status_code == 200 and response.content == b""
    assert response.headers["content-length"] == str(len(SEGMENT))
    assert response.headers["accept-ranges"] == "bytes"


async def test_cors_for_browser_players(client, media):
    plain = await client.get(f"/{media.public_id}.m3u8")
    assert plain.headers["access-control-allow-origin"] == "*"
    assert "Content-Range" in plain.headers["access-control-expose-headers"]
    cross = await client.get(f"/{media.signed_id}.m3u8", headers={"Origin": "http://127.0.0.1:8000"})
    assert cross.status_code == 403
    assert cross.headers["access-control-allow-origin"] == "http://127.0.0.1:8000"
    assert cross.headers["access-control-allow-credentials"] == "true"
    preflight = await client.options(
        f"/{media.public_id}/720p/seg_00000.m4s",
        headers={
            "Origin": "http://player.example",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "range",
        },
    )
    assert preflight.status_code == 204
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["access-control-allow-headers"] == "range"


async def test_not_found_cases(client, media):
    assert (await client.get("/nosuchid.m3u8")).status_code == 404
    assert (await client.get(f"/{media.public_id}/720p/missing.m4s")).status_code == 404
    assert (await client.get(f"/{media.public_id}/..%2F..%2Fasset2/master.m3u8")).status_code == 404
    assert (await client.get("/")).status_code == 404
    assert (await client.post(f"/{media.public_id}.m3u8")).status_code == 405


async def test_large_objects_are_streamed_not_cached(edge_platform, media, keys):
    edge = create_edge_app(edge_platform, max_object_bytes=1024)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
        full = await http.get(f"/{media.public_id}/720p/seg_00001.m4s")
        assert full.content == SEGMENT[::-1]
        part = await http.get(f"/{media.public_id}/720p/seg_00001.m4s", headers={"Range": "bytes=5000-5009"})
        assert part.status_code == 206 and part.content == SEGMENT[::-1][5000:5010]
    kept = edge.objects.peek(f"assets/{media.asset_id}/720p/seg_00001.m4s")
    assert kept is not None and kept.body is None  # metadata only: the bytes come from the origin each time
    assert edge.direct_requests == 2 and edge.direct_bytes == len(SEGMENT) + 10
    edge_platform.store.delete(f"assets/{media.asset_id}/720p/seg_00001.m4s")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
        assert (await http.get(f"/{media.public_id}/720p/seg_00001.m4s")).status_code == 404
    assert edge.objects.peek(f"assets/{media.asset_id}/720p/seg_00001.m4s") is None


async def test_counters_by_request_and_byte(client, edge, media):
    path = f"/{media.public_id}/720p/seg_00000.m4s"
    for _ in range(3):
        await client.get(path)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge.admin_app), base_url=EDGE) as admin:
        stats = (await admin.get("/_edge/stats")).json()["objects"]
    assert stats["misses"] == 1 and stats["hits"] == 2
    assert stats["miss_bytes"] == len(SEGMENT) and stats["hit_bytes"] == 2 * len(SEGMENT)
    assert edge.playbacks.stats.misses == 1


class CountingStore:
    """Wraps the real store; counts origin body reads and makes each one slow enough to overlap."""

    def __init__(self, inner, delay: float):  # type: ignore[no-untyped-def]
        self.inner, self.delay, self.reads = inner, delay, 0
        self.bucket = inner.bucket
        self._lock = threading.Lock()

    def get(self, key, **kwargs):  # type: ignore[no-untyped-def]
        with self._lock:
            self.reads += 1
        time.sleep(self.delay)
        return self.inner.get(key, **kwargs)

    def __getattr__(self, name):  # type: ignore[no-untyped-def]
        return getattr(self.inner, name)


async def test_a_thousand_concurrent_misses_cause_one_origin_read(edge_platform, media, keys):
    edge = create_edge_app(edge_platform)
    counting = CountingStore(edge_platform.store, delay=0.3)
    edge.store = counting
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
        await http.get(f"/{media.public_id}/thumbnail.jpg")  # warm the playback-id lookup only
        counting.reads = 0
        responses = await asyncio.gather(*(http.get(f"/{media.public_id}/720p/seg_00000.m4s") for _ in range(1000)))
    assert all(r.status_code == 200 and r.content == SEGMENT for r in responses)
    assert counting.reads == 1
    assert edge.objects.stats.coalesced == 999
    assert edge.objects.stats.coalesced_bytes == 999 * len(SEGMENT)


async def test_catalog_or_store_outage_is_503_not_a_crash(edge_platform, media, keys):
    from dataclasses import replace

    from sqlalchemy.exc import OperationalError

    from streamstack.storage.base import StorageUnavailable

    def catalog_down():  # type: ignore[no-untyped-def]
        raise OperationalError("SELECT 1", {}, Exception("catalog down"))

    def store_down(key):  # type: ignore[no-untyped-def]
        raise StorageUnavailable("store down")

    no_catalog = create_edge_app(replace(edge_platform, sessions=catalog_down))
    no_store = create_edge_app(edge_platform)
    no_store.store = CountingStore(edge_platform.store, delay=0)
    no_store.store.head = store_down
    for edge in (no_catalog, no_store):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
            response = await http.get(f"/{media.public_id}/720p/seg_00000.m4s")
        assert response.status_code == 503 and response.headers["cache-control"] == "no-store"


BIG_OBJECT_LIMIT = 64 * 1024  # an edge whose cache keeps objects up to 64 KiB sends larger ones as files


async def test_cacheable_objects_come_from_memory_even_where_the_server_sends_files(edge_platform, media, keys):
    """granian's pathsend costs more CPU than a body from memory (bench/edge.py): a cacheable segment is a body."""
    small = bytes(range(256)) * 400
    edge_platform.store.put(f"assets/{media.asset_id}/720p/small.m4s", [small])
    app = create_edge_app(edge_platform)
    for _ in range(2):
        sent = await call_asgi(app, f"/{media.public_id}/720p/small.m4s", {"http.response.pathsend": {}})
        assert sent[0]["status"] == 200 and sent[1] == {"type": "http.response.body", "body": small}
    assert app.direct_requests == 0 and app.objects.stats.hits == 1


async def call_asgi(app, path: str, extensions: dict, headers: list | None = None) -> list[dict]:  # type: ignore[no-untyped-def]
    """Drive the app as a server that offers `extensions` would; file descriptors are read while still open."""
    import os

    sent: list[dict] = []

    async def receive() -> dict:
        return {"type": "http.request", "body": b""}

    async def send(message: dict) -> None:
        if message["type"] == "http.response.zerocopysend":
            message = {**message, "data": os.pread(message["file"], message["count"], message["offset"])}
        sent.append(message)

    scope = {
        "type": "http",
        "method": "GET",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"edge.test"), *(headers or [])],
        "scheme": "http",
        "client": ("127.0.0.1", 1),
        "extensions": extensions,
    }
    await app(scope, receive, send)
    return sent


async def test_servers_that_send_files_get_the_file_not_bytes(edge_platform, media, keys):
    big = bytes(range(256)) * 400  # 102,400 bytes: too large for this edge's cache, so sent as a file
    edge_platform.store.put(f"assets/{media.asset_id}/720p/big.m4s", [big])
    path = f"/{media.public_id}/720p/big.m4s"

    pathsend = await call_asgi(create_edge_app(edge_platform, max_object_bytes=BIG_OBJECT_LIMIT), path,
                               {"http.response.pathsend": {}})  # fmt: skip
    assert pathsend[0]["status"] == 200 and pathsend[1]["type"] == "http.response.pathsend"
    assert pathsend[1]["path"].endswith("/720p/big.m4s")

    zerocopy_app = create_edge_app(edge_platform, max_object_bytes=BIG_OBJECT_LIMIT)
    zerocopy = await call_asgi(zerocopy_app, path, {"http.response.zerocopysend": {}}, [(b"range", b"bytes=100-199")])
    assert zerocopy[0]["status"] == 206 and zerocopy[1]["data"] == big[100:200]
    assert zerocopy_app.objects.peek(f"assets/{media.asset_id}/720p/big.m4s").body is None  # the page cache has it
    playlist = await call_asgi(zerocopy_app, f"/{media.public_id}/720p/index.m3u8", {"http.response.zerocopysend": {}})
    assert playlist[1]["type"] == "http.response.body"  # playlists stay in memory: they are rewritten


async def test_prometheus_counters_and_metrics_endpoint(edge_platform, media, keys, fresh_metrics):
    fresh_metrics.configure_metrics(service="edge", enabled=True)
    edge = create_edge_app(edge_platform)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
        for _ in range(3):
            await http.get(f"/{media.public_id}/720p/seg_00000.m4s")
        await http.get(f"/{media.public_id}/720p/nothing.m4s")
        edge.flush_metrics()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge.admin_app), base_url=EDGE) as admin:
        text = (await admin.get("/metrics")).text
    assert edge.served.requests == {"hit": 2, "miss": 1, "coalesced": 0}
    assert 'streamstack_edge_requests_total{cache_result="hit"} 2.0' in text
    assert f'streamstack_edge_bytes_total{{cache_result="miss"}} {float(len(SEGMENT))}' in text
    assert "streamstack_edge_cache_hit_ratio" in text
    assert 'route="/{playback_id}/{path}"' in text and 'status_class="4xx"' in text
    assert "streamstack_edge_origin_fetch_seconds_count" in text


async def test_request_durations_tallied_in_the_process_count_every_response_served(
    edge_platform, media, keys, fresh_metrics
):
    """Durations are added up per request and written once a second: the histogram still counts each response."""
    fresh_metrics.configure_metrics(service="edge", enabled=True)
    edge = create_edge_app(edge_platform)
    playlist, segment = f"/{media.public_id}/720p/index.m3u8", f"/{media.public_id}/720p/seg_00000.m4s"
    child, master = "/{playback_id}/{path}", "/{playback_id}.m3u8"
    expected: dict[tuple[str, str, str], int] = {}
    started = time.perf_counter()
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
        for method, path, headers, route in [
            *[("GET", playlist, {}, child)] * 7,
            ("GET", segment, {"Range": "bytes=0-99"}, child),
            ("HEAD", playlist, {}, child),
            ("GET", f"/{media.public_id}.m3u8", {}, master),
            ("GET", f"/{media.public_id}/720p/nothing.m4s", {}, child),
            ("GET", "/not-a-playback-path", {}, "unmatched"),
            ("GET", "/healthz", {}, None),  # a load balancer's probe is not a viewer's request: not timed
        ]:
            response = await http.request(method, path, headers=headers)
            if route is not None:
                label = (route, method, f"{response.status_code // 100}xx")
                expected[label] = expected.get(label, 0) + 1
        elapsed = time.perf_counter() - started
        written_at_once = await _duration_samples(edge)
        edge.flush_metrics()
    samples = await _duration_samples(edge)

    assert sum(count for (kind, *_), count in written_at_once.items() if kind == "count") == 1  # the first only
    assert expected[(child, "GET", "2xx")] == 8 and expected[(child, "GET", "4xx")] == 1
    assert expected[("unmatched", "GET", "4xx")] == 1 and expected[(master, "GET", "2xx")] == 1
    assert {tuple(labels): count for (kind, *labels), count in samples.items() if kind == "count"} == expected
    assert {tuple(labels): count for (kind, *labels), count in samples.items() if kind == "+Inf"} == expected
    total = sum(value for (kind, *_), value in samples.items() if kind == "sum")
    assert 0 < total <= elapsed  # each response's own time, served one after another


async def _duration_samples(edge) -> dict[tuple[str, ...], float]:  # type: ignore[no-untyped-def]
    """(count|sum|+Inf, route, method, status_class) -> value, from the edge's `/metrics` as a scraper reads it."""
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge.admin_app), base_url=EDGE) as admin:
        text = (await admin.get("/metrics")).text
    samples = {}
    for family in text_string_to_metric_families(text):
        if family.name != "streamstack_edge_request_duration_seconds":
            continue
        for found in family.samples:
            kind = {"_count": "count", "_sum": "sum"}.get(found.name.removeprefix(family.name))
            if kind is None and found.labels.get("le") == "+Inf":
                kind = "+Inf"
            if kind is not None:
                labels = found.labels
                samples[(kind, labels["route"], labels["method"], labels["status_class"])] = found.value
    return samples


async def test_healthz_answers_200_for_load_balancer_and_container_checks(client):
    """Terraform points the edge target group and the container health check at /healthz (issue 11, defect 5)."""
    for method in ("GET", "HEAD"):
        response = await client.request(method, "/healthz")
        assert response.status_code == 200
        assert response.headers["cache-control"] == "no-store"
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_a_sent_file_is_resolved_once_and_a_deleted_one_is_a_clean_404(edge_platform, media, keys, monkeypatch):
    big = bytes(range(256)) * 400
    key = f"assets/{media.asset_id}/720p/big.m4s"
    edge_platform.store.put(key, [big])
    app, path = create_edge_app(edge_platform, max_object_bytes=BIG_OBJECT_LIMIT), f"/{media.public_id}/720p/big.m4s"
    extensions = {"http.response.pathsend": {}}
    resolved = []
    real_local_path = edge_platform.store.local_path
    monkeypatch.setattr(edge_platform.store, "local_path", lambda k: resolved.append(k) or real_local_path(k))

    for _ in range(5):
        sent = await call_asgi(app, path, extensions)
        assert sent[1]["type"] == "http.response.pathsend" and sent[1]["path"].endswith("/720p/big.m4s")
    assert resolved == [key]  # at load only: resolving a path per request was most of a segment's CPU

    edge_platform.store.delete(key)
    gone = await call_asgi(app, path, extensions)
    assert gone[0]["status"] == 404 and key not in app.objects
