"""One stored object served to ffmpeg over loopback HTTP with byte ranges, so a probe reads only what it needs.

A Lambda has 512 MB of /tmp and 60 s: downloading a multi-gigabyte source to probe it fails. ffmpeg reads a
container's header (and seeks to an MP4's trailing `moov`) with HTTP Range requests; each one becomes a
ranged read of the object store. The server answers a single unguessable path on 127.0.0.1 and nothing else.
"""

from __future__ import annotations

import logging
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from streamstack.storage.base import ObjectStore

log = logging.getLogger("streamstack.media.ranged")

CHUNK_BYTES = 64 * 1024
# ffmpeg asks for open-ended ranges and closes the connection to seek; a small send buffer keeps what the
# server reads ahead from the store (and pays for) to about one chunk.
SEND_BUFFER_BYTES = 64 * 1024
_RANGE = re.compile(r"^bytes=(\d+)-(\d*)$")


class RangeReads:
    """What the store was asked for: (start, end) of every ranged read, to keep probes honest in tests."""

    def __init__(self) -> None:
        self.ranges: list[tuple[int, int]] = []
        self.bytes_sent = 0
        self._lock = threading.Lock()

    def record(self, start: int, end: int) -> None:
        with self._lock:
            self.ranges.append((start, end))

    def sent(self, count: int) -> None:
        with self._lock:
            self.bytes_sent += count


def _handler(store: ObjectStore, key: str, size: int, path: str, reads: RangeReads) -> type[BaseHTTPRequestHandler]:
    """A request handler bound to one object: GET/HEAD of `path`, whole or by a single byte range."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def setup(self) -> None:
            self.request.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SEND_BUFFER_BYTES)
            super().setup()

        def do_HEAD(self) -> None:  # noqa: N802 - http.server's naming
            self._answer(body=False)

        def do_GET(self) -> None:  # noqa: N802
            self._answer(body=True)

        def _answer(self, *, body: bool) -> None:
            if self.path != path:
                self.send_error(404)
                return
            span = self._span()
            if span is None:
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            start, end, partial = span
            self.send_response(206 if partial else 200)
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(end - start + 1))
            if partial:
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.end_headers()
            if body and end >= start:
                self._stream(start, end)

        def _span(self) -> tuple[int, int, bool] | None:
            """(start, end inclusive, partial); None when the range cannot be satisfied."""
            header = self.headers.get("Range")
            if not header:
                return 0, size - 1, False
            match = _RANGE.match(header.strip())
            if match is None:
                return 0, size - 1, False  # an unsupported range form gets the whole object, as RFC 9110 allows
            start = int(match.group(1))
            end = min(int(match.group(2)), size - 1) if match.group(2) else size - 1
            if start >= size or end < start:
                return None
            return start, end, True

        def _stream(self, start: int, end: int) -> None:
            reads.record(start, end)
            chunks = store.get(key, start=start, end=end, chunk_size=CHUNK_BYTES)
            try:
                for chunk in chunks:
                    self.wfile.write(chunk)
                    reads.sent(len(chunk))
            except (BrokenPipeError, ConnectionResetError):
                pass  # ffmpeg seeks by closing the connection and asking for another range
            finally:
                close = getattr(chunks, "close", None)
                if close is not None:
                    close()

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - http.server's signature
            log.debug("ranged source: " + format, *args)

    return Handler


@contextmanager
def serve_object(store: ObjectStore, key: str, size: int, reads: RangeReads | None = None) -> Iterator[str]:
    """Serve `key` (of `size` bytes) on 127.0.0.1 until the block ends; yields its http:// URL."""
    path = f"/{secrets.token_urlsafe(18)}"
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(store, key, size, path, reads or RangeReads()))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="ranged-source", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}{path}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
