"""The edge's HTTP server, set up in one place: `streamstack edge` runs it and bench/edge.py measures it."""

from __future__ import annotations

from typing import Any

from granian import Granian
from granian.constants import Interfaces, Loops, TaskImpl
from granian.log import LogLevels

# granian's runtime options, compared with bench/edge.py (docs/playback.md, "granian's runtime options"). The
# runtime stays granian's default for ASGI (multi-threaded). task_impl "rust" served playlists at ~18% less CPU here
# but is experimental and, on Python >= 3.12 (the container image's), not available: granian falls back to asyncio.
RUNTIME_OPTIONS: dict[str, Any] = {"loop": Loops.uvloop, "task_impl": TaskImpl.asyncio}


def serve_edge(
    target: str, *, address: str, port: int, workers: int, factory: bool = False, log_level: str = "info"
) -> None:
    """Serve the ASGI app `target` ("module:attr") with granian (Rust HTTP) until stopped.

    bench/edge.py measured ~3x uvicorn's playlist throughput under it. It never rewrites the client address
    from forwarded headers, so a header cannot satisfy a signed policy's IpAddress condition.
    """
    Granian(target, factory=factory, address=address, port=port, workers=workers, interface=Interfaces.ASGI,
            websockets=False, backlog=4096, log_access=False, log_level=LogLevels(log_level),
            **RUNTIME_OPTIONS).serve()  # fmt: skip
