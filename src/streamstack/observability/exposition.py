"""Exposition: `/metrics` (Prometheus text or OpenMetrics), the request middleware, and multiprocess mode.

Multi-process choice: prometheus-client **multiprocess mode**. `streamstack up` runs the API, the worker and
the edge as separate processes; it calls `prepare_multiprocess(metrics_dir(settings))` before starting them,
so every process writes its samples to mmap files in `<data_dir>/prometheus` (cleaned at each start) and any
`/metrics` endpoint serves the sum over all of them. One scrape of the API's `/metrics` therefore shows the
whole platform, counters survive a worker restart, and no second or third scrape target has to be configured
(the edge's and worker's endpoints serve the same aggregate; scrape one of them only). Gauges declare how
they aggregate (catalogue.MetricDef.multiprocess_mode): queue gauges keep the most recent write, the worker
heartbeat keeps the maximum so that a dead worker's frozen timestamp goes stale and alerts. Without
PROMETHEUS_MULTIPROC_DIR (aws shape: one process per container) each process serves its own registry, which
is what a per-task scrape wants.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import CollectorRegistry, make_asgi_app, values
from prometheus_client import multiprocess as prom_multiprocess
from prometheus_client.metrics_core import Metric

from streamstack.observability import metrics
from streamstack.observability.catalogue import METRICS

if TYPE_CHECKING:
    from streamstack.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
PER_STREAM = frozenset(name for name, definition in METRICS.items() if definition.per_stream)

MULTIPROC_ENV = metrics.MULTIPROC_ENV


def metrics_dir(settings: Settings) -> Path:
    """Where the embedded shape keeps the shared multiprocess files."""
    return settings.data_dir / "prometheus"


def prepare_multiprocess(directory: Path, *, clean: bool = True) -> dict[str, str]:
    """Call in `up` before starting children: empties the dir and points this process and its children at it.

    Returns the environment entries to pass to a child started with an explicit `env=`.
    """
    directory = Path(directory).resolve()
    directory.mkdir(parents=True, exist_ok=True)
    if clean:
        for stale in directory.glob("*.db"):
            stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    values.ValueClass = values.MultiProcessValue()  # prometheus-client chose its value class at import
    metrics.reset_instruments()
    return {MULTIPROC_ENV: str(directory)}


def mark_process_dead(pid: int) -> None:
    """Call in `up` when a child exits, so its live-mode gauge files are dropped."""
    directory = os.environ.get(MULTIPROC_ENV)
    if directory:
        prom_multiprocess.mark_process_dead(pid, directory)


def exposition_registry() -> CollectorRegistry:
    """The sum over every process's files in multiprocess mode; this process's registry otherwise."""
    directory = os.environ.get(MULTIPROC_ENV)
    if not directory:
        return metrics.get_registry()
    registry = CollectorRegistry()
    registry.register(_WithoutEndedStreams(prom_multiprocess.MultiProcessCollector(None, path=directory)))
    return registry


class _WithoutEndedStreams:
    """The multiprocess sum without the series of streams that ended (written NaN by forget_live_stream)."""

    def __init__(self, collector: prom_multiprocess.MultiProcessCollector) -> None:
        self.collector = collector

    def collect(self) -> Iterable[Metric]:
        for family in self.collector.collect():
            if family.name in PER_STREAM:
                family.samples = [s for s in family.samples if not math.isnan(s.value)]
            yield family


class MetricsEndpoint:
    """ASGI app serving Prometheus text (or OpenMetrics on request), refreshing pull-based gauges first."""

    def __init__(self, before_scrape: Callable[[], None] | None = None) -> None:
        self.before_scrape = before_scrape

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.before_scrape is not None:
            self.before_scrape()
        await make_asgi_app(exposition_registry())(scope, receive, send)


def metrics_app(before_scrape: Callable[[], None] | None = None) -> MetricsEndpoint:
    """The `/metrics` ASGI app; `before_scrape` can refresh queue gauges (e.g. `lambda: refresh_queue(q)`)."""
    return MetricsEndpoint(before_scrape)


def mount_metrics(app: Any, *, path: str = "/metrics", before_scrape: Callable[[], None] | None = None) -> None:
    """Add `/metrics` to a FastAPI or Starlette app (hidden from OpenAPI)."""
    app.add_route(path, metrics_app(before_scrape), include_in_schema=False)


def start_metrics_server(port: int, addr: str = "127.0.0.1") -> None:
    """`/metrics` for a process without an ASGI app (a worker container in the aws shape)."""
    from prometheus_client import start_http_server

    start_http_server(port, addr, registry=exposition_registry())


# --- ASGI middleware ---------------------------------------------------------------------------------------

UNMATCHED_ROUTE = "unmatched"


def route_template(scope: Scope, root_path: str = "") -> str:
    """The matched route's template (`/v1/assets/{asset_id}`), never the raw path, to bound cardinality."""
    route = scope.get("route")
    template = getattr(route, "path_format", None) or getattr(route, "path", None)
    if template is None:
        return UNMATCHED_ROUTE
    mount_prefix = scope.get("root_path", "")[len(root_path) :]
    return mount_prefix + template


class MetricsMiddleware:
    """Pure ASGI middleware: duration by route template, method and status class, and a 5xx count.

    With `tally`, durations are added up in the process and written once a second (metrics.HistogramTally):
    for the edge, whose requests take microseconds; call `flush` at shutdown.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        service: str = "api",
        exclude_paths: tuple[str, ...] = ("/metrics",),
        tally: bool = False,
    ):
        self.app = app
        prefix = "streamstack_edge" if service == "edge" else "streamstack_api"
        self.duration_metric = f"{prefix}_request_duration_seconds"
        self.errors_metric = f"{prefix}_5xx_total"
        self.exclude_paths = frozenset(exclude_paths)
        self.durations = metrics.HistogramTally(self.duration_metric) if tally else None

    def flush(self) -> None:
        """Write the tallied durations now (the tally writes them once a second by itself)."""
        if self.durations is not None:
            self.durations.schedule.run()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exclude_paths or not metrics.metrics_enabled():
            await self.app(scope, receive, send)
            return
        status = 500  # what the client gets if the app raises before responding

        async def capture_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        root_path = scope.get("root_path", "")
        start = time.perf_counter()
        try:
            await self.app(scope, receive, capture_status)
        finally:
            self._record(route_template(scope, root_path), scope["method"], status, time.perf_counter() - start)

    def _record(self, route: str, method: str, status: int, seconds: float) -> None:
        status_class = f"{status // 100}xx"
        if self.durations is not None:
            self.durations.observe(seconds, route, method, status_class)  # the catalogue's label order
        else:
            metrics.record(self.duration_metric, seconds, route=route, method=method, status_class=status_class)
        if status >= 500:
            metrics.record(self.errors_metric, route=route, method=method)


def instrument_app(
    app: Any,
    *,
    service: str = "api",
    settings: Settings,
    before_scrape: Callable[[], None] | None = None,
) -> None:
    """One line at app creation: configure, add middleware and `/metrics`; nothing at all when disabled."""
    metrics.configure_metrics(service=service, settings=settings, emf=metrics.emf_enabled())  # keeps setup's EMF
    if not metrics.metrics_enabled():
        return
    app.add_middleware(MetricsMiddleware, service=service)
    mount_metrics(app, before_scrape=before_scrape)
