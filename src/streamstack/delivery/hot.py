"""Public playlists' whole answers, kept so that a player's repeated poll skips the edge's full request path.

Players poll playlists, so most playlist requests are the same answer again. A kept answer holds the
playback and object cache entries it was built from and is only given while both are still the fresh
cached ones, so it never outlives what the full path would have answered. Signed playback is never kept:
its every request is verified.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from streamstack.delivery.cache import CoalescingLRU
from streamstack.delivery.http import Headers, Scope, cors_for_origin, is_plain_host
from streamstack.delivery.objects import EdgeObject

MAX_HOT_REPLIES = 256  # per process; the oldest is dropped first
WHOLE_BODY_EXCEPT = frozenset({b"range", b"if-none-match"})  # asked for something other than the whole body


@dataclass(frozen=True)
class HotReply:
    """The 200 of a public playlist: body and headers as the full path builds them for a GET."""

    playback_id: str
    playback: object  # the cached Playback it was built from, compared by identity
    key: str
    obj: EdgeObject
    body: bytes
    object_headers: Headers  # content-type, etag, last-modified, cache-control, accept-ranges
    route: str  # the route template the request-duration histogram labels it with

    def headers_for(self, origin: bytes | None) -> Headers:
        """The object's headers, CORS for this Origin (or none), the length: the full path's order."""
        return [*self.object_headers, *cors_for_origin(origin), (b"content-length", b"%d" % len(self.body))]


class HotReplies:
    """Kept answers by (path, query string), bounded; `find` gives one only while it is still current."""

    def __init__(self, playbacks: CoalescingLRU[Any], objects: CoalescingLRU[EdgeObject]) -> None:
        self._playbacks, self._objects = playbacks, objects
        self._replies: dict[tuple[str, bytes], tuple[HotReply, Headers]] = {}
        self._plain_host: bytes | None = None  # the last Host that passed is_plain_host (the one a CDN sends)

    def __len__(self) -> int:
        return len(self._replies)

    def keep(self, path: str, query: bytes, reply: HotReply) -> None:
        if (path, query) not in self._replies and len(self._replies) >= MAX_HOT_REPLIES:
            del self._replies[next(iter(self._replies))]
        self._replies[path, query] = (reply, reply.headers_for(None))

    def find(self, scope: Scope) -> tuple[HotReply, Headers] | None:
        """The kept answer to this GET and the headers to send, counted as the full path counts its cache hits.

        None when there is none, when the request asks for a range or a validator, has a Host the full path
        refuses, or when the playback or object entry it came from is no longer the fresh cached one.
        """
        found = self._replies.get((scope["path"], scope["query_string"]))
        if found is None:
            return None
        reply, plain_headers = found
        host = origin = None
        for name, value in scope["headers"]:
            if name in WHOLE_BODY_EXCEPT:
                return None
            if name == b"host":
                host = value
            elif name == b"origin":
                origin = value
        if host is not None and host != self._plain_host:
            if not is_plain_host(host):
                return None
            self._plain_host = host
        if self._playbacks.peek(reply.playback_id) is not reply.playback or not self._objects.hit_if(
            reply.key, reply.obj
        ):
            return None
        self._playbacks.hit_if(reply.playback_id, reply.playback)  # fresh at the peek: counted as the full path does
        return reply, plain_headers if origin is None else reply.headers_for(origin)
