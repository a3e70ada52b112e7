"""The edge's operator listener: `/metrics` and `/_edge/stats` on their own (loopback) address, never on the
internet-facing port, where they would leak traffic figures and invite scraping floods.

Each edge worker process serves it from a thread with its own event loop; the socket is bound with
SO_REUSEPORT, so several worker processes share the port as they share the public one.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import threading
from typing import Any

import uvicorn

log = logging.getLogger("streamstack.delivery")

STOP_TIMEOUT_SECONDS = 5.0


class AdminListener:
    """Runs an ASGI app on host:port in a background thread of this process."""

    def __init__(self, app: Any, host: str, port: int) -> None:
        self.app = app
        self.host = host
        self.port = port
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Bind now (so a port conflict is reported at start) and serve in the background."""
        sock = bind_shared(self.host, self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(self.app, interface="asgi3", lifespan="off", log_config=None, access_log=False,
                                proxy_headers=False,
                                timeout_graceful_shutdown=1)
        self._server = server = uvicorn.Server(config)
        self._thread = threading.Thread(target=lambda: asyncio.run(server.serve(sockets=[sock])), daemon=True,
                                        name="edge-admin-listener")
        self._thread.start()
        log.info("edge admin listener on %s:%s", self.host, self.port)

    def stop(self) -> None:
        if self._server is not None and self._thread is not None:
            self._server.should_exit = True
            self._thread.join(STOP_TIMEOUT_SECONDS)
        self._server = self._thread = None


def bind_shared(host: str, port: int) -> socket.socket:
    """A listening socket that the edge's other worker processes may bind too."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if hasattr(socket, "SO_REUSEPORT"):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    sock.listen(128)
    return sock
