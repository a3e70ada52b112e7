"""The edge: HLS from the object store with CDN semantics and CloudFront-compatible signed access.

A raw ASGI app (no framework) because every segment request runs through it: routing, auth and the
cache lookup stay a few dictionary operations on the hot path.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import os
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any, TypeVar
from urllib.parse import parse_qs

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from streamstack.assets.models import Asset, PlaybackId
from streamstack.delivery import playlists
from streamstack.delivery.admin import AdminListener
from streamstack.delivery.cache import CoalescingLRU, Loaded
from streamstack.delivery.hot import WHOLE_BODY_EXCEPT, HotReplies, HotReply
from streamstack.delivery.http import (
    Headers,
    RangeNotSatisfiable,
    Receive,
    Reply,
    Scope,
    Send,
    cache_control,
    cors_headers,
    error_reply,
    etag_matches,
    http_date,
    is_plain_host,
    lifespan,
    parse_cookies,
    parse_range,
    preflight,
    request_headers,
    send_reply,
)
from streamstack.delivery.live import (
    BLOCKING_QUERY,
    DELTA_PLAYLIST,
    LOW_LATENCY_PLAYLIST,
    BadBlockingRequest,
    BlockingRequest,
    LivePlaylists,
    NotYetAvailable,
    is_part_key,
    live_session,
    parse_blocking_query,
)
from streamstack.delivery.metering import ServedCounters
from streamstack.delivery.objects import EdgeObject, cache_lifetime, etag_of, memory_weight
from streamstack.keys.signing import active_public_keys
from streamstack.observability import exposition, metrics
from streamstack.platform import Platform
from streamstack.settings import Settings
from streamstack.signed_urls import QUERY_PARAMS as SIGNING_QUERY
from streamstack.signed_urls import (
    SignedCredentials,
    credentials_from_cookies,
    split_signed_query,
    verify,
)
from streamstack.storage.base import InvalidKey, ObjectNotFound, ObjectStore, StorageUnavailable, validate_key
from streamstack.storage.edge_origin import ORIGIN_PATH, TOKEN_HEADER
from streamstack.storage.factory import open_edge_origin
from streamstack.storage.keys import MASTER_NAME, asset_prefix
from streamstack.storage.local import guess_content_type

log = logging.getLogger("streamstack.delivery")
R = TypeVar("R")

_PATH = re.compile(r"^/([A-Za-z0-9_-]{1,64})(?:(\.m3u8)|/(.+))$")
ZEROCOPY = "http.response.zerocopysend"
PATHSEND = "http.response.pathsend"
STATS_PATH = "/_edge/stats"
HEALTH_PATH = "/healthz"  # the path Terraform gives the edge's target group and container health checks
HEALTHY = Reply(200, [(b"content-type", b"application/json"), (b"cache-control", b"no-store")], b'{"status":"ok"}')
METRICS_PATH = "/metrics"
MASTER_ROUTE = SimpleNamespace(path="/{playback_id}.m3u8")
CHILD_ROUTE = SimpleNamespace(path="/{playback_id}/{path}")
STREAM_CHUNK = 256 * 1024
NEGATIVE_TTL = 1.0
LIVE_CATALOG_TTL = 1.0  # a live playback id follows its stream's current session
CATALOG_STALE_SECONDS = 5.0  # an expired entry answers while its reload runs, unless the reload is this late
_DONE = object()
_CONDITIONAL = frozenset({b"range", b"if-none-match", b"origin"})
# Every query parameter a response depends on (the rest are ignored): the CDN's cache key must hold them all.
CACHE_KEY_QUERY = frozenset({*BLOCKING_QUERY, playlists.MAX_RESOLUTION_QUERY, *SIGNING_QUERY})


@dataclass(frozen=True)
class Playback:
    """What the edge needs to know about a playback id, cached briefly so segments never hit the catalog."""

    prefix: str  # the asset's objects, or a live session's
    signed: bool
    ready: bool
    live: bool = False
    master: str = MASTER_NAME


class EdgeApp:
    """ASGI app; `objects` and `playbacks` are the caches, their `.stats` the hit/miss/coalesced counters."""

    def __init__(
        self,
        platform: Platform,
        *,
        catalog_ttl: float = 2.0,
        max_object_bytes: int | None = None,
        clock: Callable[[], float] = time.time,
    ):
        self.platform = platform
        self.settings: Settings = platform.settings
        self.store: ObjectStore = open_edge_origin(self.settings, platform.store)
        token = self.settings.edge_origin_token
        self.origin_token = token.get_secret_value().encode() if token is not None else None
        self.catalog_ttl = catalog_ttl
        self.clock = clock
        budget = self.settings.edge_cache_bytes
        self.max_object_bytes = max_object_bytes if max_object_bytes is not None else max(budget // 16, 1)
        self.objects: CoalescingLRU[EdgeObject] = CoalescingLRU(
            budget, weigh=memory_weight, max_item_weight=self.max_object_bytes
        )
        self.direct_requests = 0  # answered from the origin file or stream, not from memory
        self.direct_bytes = 0
        # A playback id is refreshed behind the requests that use it: waiting for the read together stalled every
        # viewer of it once per TTL (bench/edge.py's playlist p99). Signing keys are not: a revocation is not
        # answered from a stale entry.
        self.playbacks: CoalescingLRU[Playback | None] = CoalescingLRU(
            100_000, weigh=lambda _: 1, stale_seconds=CATALOG_STALE_SECONDS if catalog_ttl > 0 else 0.0)
        self.keys: CoalescingLRU[dict[str, str]] = CoalescingLRU(1, weigh=lambda _: 1)  # fmt: skip
        self.live = LivePlaylists(self.store, self._offload)
        self.edge_bases = self.settings.edge_base_urls
        self.metered = metrics.metrics_enabled()
        self.served = ServedCounters(publish=self.metered)
        self.metrics_endpoint = exposition.metrics_app() if self.metered else None
        # Request durations are tallied in the process and written once a second, like the served counters.
        self.timing = (
            exposition.MetricsMiddleware(self._dispatch, service="edge", exclude_paths=(HEALTH_PATH,), tally=True)
            if self.metered
            else None
        )
        self._entry: Callable[[Scope, Receive, Send], Awaitable[None]] = self.timing or self._dispatch
        self.durations = self.timing.durations if self.timing is not None else None
        self.hot = HotReplies(self.playbacks, self.objects)
        self.admin_listener = (
            AdminListener(self.admin_app, self.settings.edge_admin_host, self.settings.edge_admin_port)
            if self.settings.edge_admin_port
            else None
        )

    # --- ASGI -------------------------------------------------------------------------------------
    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = time.perf_counter()
        found = self.hot.find(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        if found is None:
            await self._entry(scope, receive, send)
            return
        hot, headers = found  # a kept playlist answer, timed and counted as the full path would count it
        try:
            await send({"type": "http.response.start", "status": 200, "headers": headers})
            await send({"type": "http.response.body", "body": hot.body})
        finally:
            if self.durations is not None:  # the middleware's histogram, its labels for a 200 to a GET
                self.durations.observe(time.perf_counter() - started, hot.route, "GET", "2xx")
        self.served.add("hit", len(hot.body))

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self._http(scope, send)
        elif scope["type"] == "lifespan":
            listener = self.admin_listener
            await lifespan(receive, send, on_startup=listener.start if listener else None,
                           on_shutdown=listener.stop if listener else None)
            self.flush_metrics()
            metrics.flush_emf()  # granian's workers leave by os._exit (forked): no atexit flush there

    def flush_metrics(self) -> None:
        """Write the figures kept in the process (served counters, request durations) now; at shutdown too."""
        if self.metered:
            self.served.publish()
        if self.timing is not None:
            self.timing.flush()

    async def admin_app(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The operator endpoints (`/metrics`, `/_edge/stats`), served only by the admin listener."""
        if scope["type"] != "http":
            return
        headers = request_headers(scope)
        if scope["path"] == METRICS_PATH and self.metrics_endpoint is not None:
            await self.metrics_endpoint(scope, receive, send)
        elif scope["path"] == STATS_PATH:
            await send_reply(send, self._stats_reply(), scope)
        else:
            await send_reply(send, error_reply(404, "Not Found", headers), scope)

    async def _http(self, scope: Scope, send: Send) -> None:
        headers = request_headers(scope)
        try:
            await self._serve(scope, headers, send)
        except (StorageUnavailable, SQLAlchemyError):
            log.warning("edge origin or catalog unavailable for %s", scope["path"], exc_info=True)
            await send_reply(send, error_reply(503, "Service Unavailable", headers), scope)

    async def _serve(self, scope: Scope, headers: dict[bytes, bytes], send: Send) -> None:
        method, path = scope["method"], scope["path"]
        if path == HEALTH_PATH:  # liveness: the process answers (no catalog call, so a DB blip replaces no task)
            await send_reply(send, HEALTHY, scope)
            return
        if path.startswith(ORIGIN_PATH):
            await self._serve_origin(scope, headers, send)
            return
        if not is_plain_host(headers.get(b"host")):
            await send_reply(send, error_reply(400, "Bad Request", headers), scope)
            return
        match = _PATH.match(path)
        if match is None:
            await send_reply(send, error_reply(404, "Not Found", headers), scope)
            return
        if method == "OPTIONS":
            await send_reply(send, preflight(headers), scope)
            return
        if method not in ("GET", "HEAD"):
            await send_reply(
                send, error_reply(405, "Method Not Allowed", headers, [(b"allow", b"GET, HEAD, OPTIONS")]), scope
            )
            return
        playback_id, is_master, rest = match.group(1), match.group(2) is not None, match.group(3)
        scope["route"] = MASTER_ROUTE if is_master else CHILD_ROUTE
        playback = self.playbacks.hit(playback_id) or await self._playback(playback_id)
        if playback is None:
            await send_reply(send, error_reply(404, "Not Found", headers), scope)
            return
        credentials = None
        if playback.signed:
            allowed, credentials = await self._authorize(scope, headers)
            if not allowed:
                await send_reply(send, error_reply(403, "Forbidden", headers), scope)
                return
        key = playback.prefix + (playback.master if is_master else rest)
        live_served = playback.live and not is_master
        if live_served and await self._serve_live(scope, headers, send, key, playback.signed, credentials):
            return
        try:
            cached = self.objects.hit(key)
            obj, result = (cached, "hit") if cached else await self.objects.lookup(key, self._load_object, key,
                                                                                    playback.ready)  # fmt: skip
            if obj.is_playlist and not playback.signed and not key.endswith("/" + LOW_LATENCY_PLAYLIST):
                self._keep_hot(scope, headers, playback_id, playback, key, obj, is_master)
            sent = await self._respond(scope, headers, send, obj, playback_id, is_master, playback.signed, credentials)
        except (ObjectNotFound, InvalidKey):
            await send_reply(send, error_reply(404, "Not Found", headers), scope)
            return
        self.served.add(result if obj.body is not None else "miss", sent)

    def _keep_hot(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        playback_id: str,
        playback: Playback,
        key: str,
        obj: EdgeObject,
        is_master: bool,
    ) -> None:
        """Keep a public playlist's 200 as `_respond` builds it for a GET without Range or validator."""
        if scope["method"] != "GET" or WHOLE_BODY_EXCEPT.intersection(headers) or obj.body is None:
            return
        try:
            body, etag, private = self._playlist_body(scope, obj, playback_id, is_master, False, None)
        except ValueError:  # a bad max_resolution: answered 400, never kept
            return
        route = (MASTER_ROUTE if is_master else CHILD_ROUTE).path
        object_headers = obj.headers(etag, private, memo=obj.shares(etag))
        reply = HotReply(playback_id, playback, key, obj, body, object_headers, route)
        self.hot.keep(scope["path"], scope["query_string"], reply)

    async def _serve_origin(self, scope: Scope, headers: dict[bytes, bytes], send: Send) -> None:
        """An edge reading through this one (the origin shield): objects by key, from the same caches and watches.

        Only with the shared token (a 404 otherwise: the path does not exist for viewers); the LL playlist and its
        delta come from the live watch (one store read of each per version), with a 304 for the version asked about.
        """
        token = headers.get(TOKEN_HEADER.encode())
        if self.origin_token is None or token is None or not hmac.compare_digest(token, self.origin_token):
            await send_reply(send, error_reply(404, "Not Found", headers), scope)
            return
        if scope["method"] not in ("GET", "HEAD"):
            await send_reply(send, error_reply(405, "Method Not Allowed", headers, [(b"allow", b"GET, HEAD")]), scope)
            return
        key = scope["path"][len(ORIGIN_PATH) :]
        try:
            validate_key(key)
            if key.endswith("/" + LOW_LATENCY_PLAYLIST):
                body, _ = await self.live.playlist(key, BlockingRequest())
                await send_reply(send, _origin_reply(body, headers.get(b"if-none-match")), scope)
                return
            if key.endswith("/" + DELTA_PLAYLIST):
                body = await self.live.delta(key[: -len(DELTA_PLAYLIST)] + LOW_LATENCY_PLAYLIST)
                await send_reply(send, _origin_reply(body, headers.get(b"if-none-match")), scope)
                return
            obj, result = await self.objects.lookup(key, self._load_object, key, False)
            sent = await self._respond(scope, headers, send, obj, "", False, False, None)
        except (ObjectNotFound, InvalidKey):
            await send_reply(send, error_reply(404, "Not Found", headers), scope)
            return
        self.served.add(result if obj.body is not None else "miss", sent)

    # --- catalog ----------------------------------------------------------------------------------
    async def _playback(self, playback_id: str) -> Playback | None:
        return await self.playbacks.get(playback_id, self._offload, self._read_playback, playback_id)

    def _read_playback(self, playback_id: str) -> Loaded[Playback | None]:
        with self.platform.sessions() as session:
            row = session.execute(
                select(PlaybackId.asset_id, PlaybackId.live_stream_id, PlaybackId.policy, Asset.status)
                .outerjoin(Asset, Asset.id == PlaybackId.asset_id)
                .where(PlaybackId.id == playback_id)
            ).first()
            live_id = row.live_stream_id if row is not None else None
            live = live_session(session, live_id) if live_id is not None else None
            session_live = live_id is not None
        if row is None or (session_live and live is None):
            return Loaded(None, NEGATIVE_TTL)
        if live is not None:
            return Loaded(Playback(live[0], row.policy == "signed", False, True, live[1]), LIVE_CATALOG_TTL)
        return Loaded(Playback(asset_prefix(row.asset_id), row.policy == "signed", row.status == "ready"),
                      self.catalog_ttl)

    async def _public_keys(self) -> dict[str, str]:
        return await self.keys.get("keys", self._offload, self._read_keys)

    def _read_keys(self) -> Loaded[dict[str, str]]:
        with self.platform.sessions() as session:
            return Loaded(active_public_keys(db_session=session), self.catalog_ttl)

    async def _offload(self, fn: Callable[..., R], *args: Any) -> R:
        """Catalog and origin calls are blocking; they run in the default thread pool."""
        return await asyncio.get_running_loop().run_in_executor(None, fn, *args)

    async def _serve_live(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        send: Send,
        key: str,
        signed: bool,
        credentials: SignedCredentials | None,
    ) -> bool:
        """LL playlists block until what the player asked for exists; a hinted part waits for its turn."""
        playlist_key = key.rsplit("/", 1)[0] + "/" + LOW_LATENCY_PLAYLIST
        if key.endswith("/" + LOW_LATENCY_PLAYLIST):
            try:
                request = parse_blocking_query(parse_qs(scope["query_string"].decode("latin-1")))
                body, max_age = await self.live.playlist(key, request)
            except BadBlockingRequest:
                await send_reply(send, error_reply(400, "Bad Request", headers), scope)
                return True
            except NotYetAvailable:
                retry = [(b"retry-after", b"1")]
                await send_reply(send, error_reply(503, "Service Unavailable", headers, retry), scope)
                return True
            except ObjectNotFound:
                return False
            if credentials is not None and credentials.kind == "custom":
                body = playlists.render_playlist(body, signed_query=credentials.as_query())
            cache = cache_control(max_age, private=signed)  # signed: the signature is in the CDN's cache key
            reply_headers = [(b"content-type", b"application/vnd.apple.mpegurl"), (b"cache-control", cache.encode()),
                             *cors_headers(headers)]  # fmt: skip
            await send_reply(send, Reply(200, reply_headers, body), scope)
            return True
        if key not in self.objects and is_part_key(key):
            await self.live.wait_for_part(playlist_key, key)
        return False

    # --- signed access ----------------------------------------------------------------------------
    async def _authorize(self, scope: Scope, headers: dict[bytes, bytes]) -> tuple[bool, SignedCredentials | None]:
        """A signed query wins over cookies (as in CloudFront); the policy must allow the unsigned URL."""
        query_credentials, rest = split_signed_query(scope["query_string"].decode("latin-1"))
        credentials = query_credentials or credentials_from_cookies(
            parse_cookies(headers.get(b"cookie", b"").decode("latin-1"))
        )
        if credentials is None:
            return False, None
        keys = await self._public_keys()
        client = scope.get("client")
        allowed = verify(
            credentials,
            urls=self._request_urls(scope, rest),
            public_key=keys.get,
            now=self.clock(),
            client_ip=client[0] if client else None,
        )
        return allowed, query_credentials

    def _request_urls(self, scope: Scope, query: str) -> list[str]:
        """The request as the configured base URL(s) name it; never built from the client's Host header."""
        raw_path = scope.get("raw_path")
        path = raw_path.decode("latin-1") if raw_path else scope["path"]
        suffix = path + (f"?{query}" if query else "")
        return [base + suffix for base in self.edge_bases]

    # --- origin and cache -------------------------------------------------------------------------
    async def _load_object(self, key: str, ready: bool) -> Loaded[EdgeObject]:
        return await self._offload(self._read_object, key, ready)

    def _read_object(self, key: str, ready: bool) -> Loaded[EdgeObject]:
        """Validated here, on the miss path only: a key that is cached was valid when it was loaded."""
        started = time.perf_counter()
        info = self.store.head(validate_key(key))
        # Whatever the budget allows stays in memory, segments included: granian's pathsend reads the file in
        # chunks in user space, which cost a 1 MB segment more CPU than a body from memory (bench/edge.py: 1,665
        # against 2,570 requests per CPU-second); only objects too large for the cache are sent as files.
        in_memory = info.size <= self.max_object_bytes
        body = b"".join(self.store.get(key)) if in_memory else None
        local_path = None if in_memory else self.store.local_path(key)
        if self.metered:
            metrics.observe_origin_fetch(time.perf_counter() - started)
        max_age, immutable = cache_lifetime(key, body, ready)
        obj = EdgeObject(
            key=key,
            size=info.size if body is None else len(body),
            etag=f'"{info.etag}"',
            content_type=(info.content_type or guess_content_type(key)).encode(),
            last_modified=http_date(info.last_modified).encode(),
            body=body,
            max_age=max_age,
            immutable=immutable,
            is_playlist=key.endswith(".m3u8"),
            local_path=local_path,
        )
        return Loaded(obj, None if immutable else float(max_age))

    # --- responses --------------------------------------------------------------------------------
    async def _respond(
        self,
        scope: Scope,
        headers: dict[bytes, bytes],
        send: Send,
        obj: EdgeObject,
        playback_id: str,
        is_master: bool,
        signed: bool,
        credentials: SignedCredentials | None,
    ) -> int:
        """Answer from the object; returns the body bytes sent (for the byte counters)."""
        body, etag, private = obj.body, obj.etag, signed
        if obj.is_playlist and body is not None:
            try:
                body, etag, private = self._playlist_body(scope, obj, playback_id, is_master, signed, credentials)
            except ValueError as exc:
                await send_reply(send, error_reply(400, str(exc), headers), scope)
                return 0
        if body is not None and scope["method"] == "GET" and not _CONDITIONAL.intersection(headers):
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": obj.plain_200_headers(etag, private, len(body)),
                }
            )
            await send({"type": "http.response.body", "body": body})
            return len(body)
        base = [*obj.headers(etag, private, memo=obj.shares(etag)), *cors_headers(headers)]
        size = obj.size if body is None else len(body)
        inm = headers.get(b"if-none-match")
        if inm is not None and etag_matches(inm.decode("latin-1"), etag):
            await send_reply(send, Reply(304, base), scope)
            return 0
        try:
            byte_range = self._range(headers, size, etag)
        except RangeNotSatisfiable:
            base.append((b"content-range", f"bytes */{size}".encode()))
            await send_reply(send, Reply(416, [*base, (b"content-length", b"0")]), scope)
            return 0
        start, end = byte_range or (0, size - 1)
        status = 206 if byte_range else 200
        base.append((b"content-length", str(end - start + 1).encode()))
        if byte_range:
            base.append((b"content-range", f"bytes {start}-{end}/{size}".encode()))
        if scope["method"] == "HEAD":
            await send({"type": "http.response.start", "status": status, "headers": base})
            await send({"type": "http.response.body", "body": b""})
            return 0
        if body is not None:
            await send({"type": "http.response.start", "status": status, "headers": base})
            await send({"type": "http.response.body", "body": body if byte_range is None else body[start : end + 1]})
        else:
            await self._send_large(scope, send, obj, status, base, start, end)
        return end - start + 1

    def _range(self, headers: dict[bytes, bytes], size: int, etag: str) -> tuple[int, int] | None:
        """Honour Range only when If-Range (if any) still names this representation."""
        header = headers.get(b"range")
        if header is None:
            return None
        if_range = headers.get(b"if-range")
        if if_range is not None and if_range.decode("latin-1").strip() != etag:
            return None
        return parse_range(header.decode("latin-1"), size)

    def _playlist_body(
        self,
        scope: Scope,
        obj: EdgeObject,
        playback_id: str,
        is_master: bool,
        signed: bool,
        credentials: SignedCredentials | None,
    ) -> tuple[bytes, str, bool]:
        """Master URIs need the playback prefix; a custom-policy signed query is handed to child URIs."""
        assert obj.body is not None
        max_resolution = None
        if is_master:
            values = parse_qs(scope["query_string"].decode("latin-1")).get(playlists.MAX_RESOLUTION_QUERY)
            max_resolution = playlists.parse_max_resolution(values[0]) if values else None
        prefix = f"{playback_id}/" if is_master else ""
        signed_query = credentials.as_query() if credentials is not None and credentials.kind == "custom" else ""
        if not prefix and not signed_query and max_resolution is None:
            return obj.body, obj.etag, signed
        if signed_query:
            body = playlists.render_playlist(
                obj.body, prefix=prefix, max_resolution=max_resolution, signed_query=signed_query
            )
            return body, etag_of(body), True
        memo_key = (prefix, max_resolution)
        rendered = obj.rendered.get(memo_key)
        if rendered is None:
            body = playlists.render_playlist(obj.body, prefix=prefix, max_resolution=max_resolution)
            rendered = (body, etag_of(body))
            obj.remember(memo_key, rendered)
        return rendered[0], rendered[1], signed

    async def _send_large(
        self,
        scope: Scope,
        send: Send,
        obj: EdgeObject,
        status: int,
        headers: Headers,
        start: int,
        end: int,
    ) -> None:
        """Zero-copy when the server offers it for a local file; otherwise stream from the origin.

        The file is opened before the response starts, so an object deleted since its metadata was cached
        is still a clean 404 (ObjectNotFound) and its stale entry is dropped.
        """
        extensions = scope.get("extensions") or {}
        key, path = obj.key, obj.local_path
        try:
            if path is not None and ZEROCOPY in extensions:
                await self._send_zerocopy(send, path, status, headers, start, end)
            elif path is not None and PATHSEND in extensions and status == 200:
                if not path.is_file():
                    raise FileNotFoundError(path)
                await send({"type": "http.response.start", "status": status, "headers": headers})
                await send({"type": PATHSEND, "path": str(path)})
            else:
                await self._send_stream(send, key, status, headers, start, end)
        except (FileNotFoundError, ObjectNotFound) as exc:
            self.objects.discard(key)
            raise ObjectNotFound(key) from exc
        self.direct_requests += 1
        self.direct_bytes += end - start + 1

    async def _send_zerocopy(self, send: Send, path: Path, status: int, headers: Headers, start: int, end: int) -> None:
        fd = os.open(path, os.O_RDONLY)
        try:
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": ZEROCOPY, "file": fd, "offset": start, "count": end - start + 1})
        finally:
            os.close(fd)

    async def _send_stream(self, send: Send, key: str, status: int, headers: Headers, start: int, end: int) -> None:
        chunks = await self._offload(partial(self.store.get, key, start=start, end=end, chunk_size=STREAM_CHUNK))
        await send({"type": "http.response.start", "status": status, "headers": headers})
        while (chunk := await self._offload(next, chunks, _DONE)) is not _DONE:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b""})

    def _stats_reply(self) -> Reply:
        body = json.dumps(
            {
                "objects": {
                    **self.objects.stats.as_dict(),
                    "entries": len(self.objects),
                    "bytes": self.objects.weight,
                    "budget_bytes": self.objects.max_weight,
                    "direct_requests": self.direct_requests,
                    "direct_bytes": self.direct_bytes,
                },
                "served": self.served.as_dict(),
                "playbacks": {**self.playbacks.stats.as_dict(), "entries": len(self.playbacks)},
            }
        ).encode()
        return Reply(
            200,
            [(b"content-type", b"application/json"), (b"cache-control", b"no-store")],
            body,
        )


def _origin_reply(body: bytes, if_none_match: bytes | None = None) -> Reply:
    """A live playlist for a downstream edge: its validator is its content (304 when the edge has it); never cached
    on the way."""
    etag = etag_of(body).encode()
    headers = [(b"content-type", b"application/vnd.apple.mpegurl"), (b"etag", etag), (b"cache-control", b"no-store")]
    return Reply(304, headers) if if_none_match == etag else Reply(200, headers, body)


def create_edge_app(platform: Platform, **options: Any) -> EdgeApp:
    """The edge over the catalog and object store (options: catalog_ttl, max_object_bytes, clock)."""
    return EdgeApp(platform, **options)


def edge_app_from_settings() -> EdgeApp:
    """Factory for `uvicorn --factory streamstack.delivery.app:edge_app_from_settings` (its own process)."""
    from streamstack.observability import setup_process
    from streamstack.platform import build_platform
    from streamstack.settings import get_settings

    settings = get_settings()
    setup_process(service="edge", settings=settings)
    return create_edge_app(build_platform(settings, with_queues=False))
