"""The edge under load with an instrument: its origin reads counted per key, answered on a path of its own.

The edge process is the real one (`edge_app_from_settings`, the server `streamstack edge` runs); only its
store is wrapped, so every body read from the origin (the object store, or the shield in two tiers) counts.
The wrapper names no local file, so the edge treats the folder as it treats S3 in the AWS shape (bodies
through get(), kept in its cache) instead of sending each request's file from disk, which would be a read
of the origin per viewer that no counter sees.
"""

from __future__ import annotations

import json
import threading
from collections import Counter
from typing import Any

from streamstack.delivery.app import edge_app_from_settings
from streamstack.delivery.http import Receive, Scope, Send
from streamstack.storage.base import Changed, ConditionalStore, ObjectStore

READS_PATH = "/_loadtest/reads"


class CountingStore:
    """Any ObjectStore, counting body reads per key (get(), and a conditional read that found a change: a 304 moves
    no body); everything else passes through."""

    def __init__(self, inner: ObjectStore) -> None:
        self.inner, self.bucket = inner, inner.bucket
        self.reads: Counter[str] = Counter()
        self._lock = threading.Lock()

    def get(self, key: str, **kwargs: Any) -> Any:
        with self._lock:
            self.reads[key] += 1
        return self.inner.get(key, **kwargs)

    def get_if_changed(self, key: str, etag: str | None) -> Changed | None:
        assert isinstance(self.inner, ConditionalStore)
        found = self.inner.get_if_changed(key, etag)
        if found is not None:
            with self._lock:
                self.reads[key] += 1
        return found

    def local_path(self, key: str) -> None:
        return None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def counted_edge() -> Any:
    """The edge app from the environment's settings, its origin wrapped; GET READS_PATH gives the counts."""
    edge = edge_app_from_settings()
    store = CountingStore(edge.store)
    edge.store = edge.live.store = store  # type: ignore[assignment]

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == READS_PATH:
            body = json.dumps(dict(store.reads)).encode()
            await send({"type": "http.response.start", "status": 200,
                        "headers": [(b"content-type", b"application/json")]})  # fmt: skip
            await send({"type": "http.response.body", "body": body})
            return
        await edge(scope, receive, send)

    return app
