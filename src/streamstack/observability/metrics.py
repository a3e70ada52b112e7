"""Every platform metric, defined once and exported to Prometheus and to CloudWatch EMF under the same name.

Multi-process choice: prometheus-client **multiprocess mode**. `streamstack up` runs the API, the worker and
the edge as separate processes; it calls `prepare_multiprocess(metrics_dir(settings))` before starting them,
so every process writes its samples to mmap files in `<data_dir>/prometheus` (cleaned at each start) and any
`/metrics` endpoint serves the sum over all of them. One scrape of the API's `/metrics` therefore shows the
whole platform, counters survive a worker restart, and no second or third scrape target has to be configured
(the edge's and worker's endpoints serve the same aggregate; scrape one of them only). Gauges declare how
they aggregate: queue and live gauges keep the most recent write, the worker heartbeat keeps the maximum so
that a dead worker's frozen timestamp goes stale and alerts. Without PROMETHEUS_MULTIPROC_DIR (aws shape:
one process per container) each process serves its own registry, which is what a per-task scrape wants.

The disabled path (Settings.metrics_enabled false) is one global check per call and no middleware at all.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping, MutableMapping
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, cast

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    make_asgi_app,
    values,
)
from prometheus_client import multiprocess as prom_multiprocess

from streamstack.observability.emf import EmfSink

if TYPE_CHECKING:
    from streamstack.queue.base import QueueStats
    from streamstack.settings import Settings

log = logging.getLogger(__name__)
disable_created_metrics()  # `_created` series double the exposition and no rule or panel reads them

Kind = Literal["counter", "gauge", "histogram"]
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
SERVICES = ("api", "edge", "worker", "ingest", "lambda", "supervisor")
CACHE_RESULTS = ("hit", "miss", "coalesced")
ENCODING_STATES = ("queued", "running", "completed", "failed")
AGGREGATED_AWAY = frozenset({"route", "method", "status_class"})  # too many values for CloudWatch dimensions

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
HANDLER_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass(frozen=True)
class MetricDef:
    """One metric's contract: Prometheus name and labels, CloudWatch unit and dimensions."""

    name: str
    kind: Kind
    unit: str  # CloudWatch unit: Seconds, Count, Bytes, Bits/Second, None
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    multiprocess_mode: str | None = None  # gauges only: how prometheus-client merges processes

    @property
    def emf_dimensions(self) -> tuple[str, ...]:
        """Service plus the low-cardinality labels; route, method and status class are summed away."""
        return ("Service", *(label for label in self.labels if label not in AGGREGATED_AWAY))

    @property
    def cloudwatch_name(self) -> str:
        """Same as the exposition name (counters keep their `_total`), so alarms and queries match."""
        return self.name

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for contract tests written in other languages or tools."""
        row = {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}
        return {**row, "emf_dimensions": list(self.emf_dimensions), "namespace": "Streamstack"}


def _counter(name: str, help: str, *labels: str, unit: str = "Count") -> MetricDef:
    return MetricDef(name, "counter", unit, help, labels)


def _gauge(name: str, help: str, *labels: str, unit: str = "None", mode: str = "mostrecent") -> MetricDef:
    return MetricDef(name, "gauge", unit, help, labels, multiprocess_mode=mode)


def _histogram(name: str, help: str, *labels: str, buckets: tuple[float, ...]) -> MetricDef:
    return MetricDef(name, "histogram", "Seconds", help, labels, buckets=buckets)


_REQUEST_LABELS = ("route", "method", "status_class")

METRICS: dict[str, MetricDef] = {
    m.name: m
    for m in (
        _histogram(
            "streamstack_api_request_duration_seconds",
            "API request latency by route template.",
            *_REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
        ),
        _counter("streamstack_api_5xx_total", "API responses with a 5xx status.", "route", "method"),
        _histogram(
            "streamstack_edge_request_duration_seconds",
            "Edge (HLS delivery) request latency by route template.",
            *_REQUEST_LABELS,
            buckets=LATENCY_BUCKETS,
        ),
        _counter("streamstack_edge_5xx_total", "Edge responses with a 5xx status.", "route", "method"),
        _counter("streamstack_edge_requests_total", "Edge requests by cache result.", "cache_result"),
        _counter("streamstack_edge_bytes_total", "Bytes served by the edge.", "cache_result", unit="Bytes"),
        _gauge("streamstack_edge_cache_hit_ratio", "Hits (incl. coalesced) over the last ~1000 edge requests."),
        _histogram(
            "streamstack_edge_origin_fetch_seconds",
            "Latency of edge fetches from origin.",
            buckets=LATENCY_BUCKETS,
        ),
        _counter("streamstack_encoding_jobs_total", "Encoding job state transitions.", "state"),
        _histogram("streamstack_encoding_job_duration_seconds", "Wall time of one encoding job.", buckets=JOB_BUCKETS),
        _histogram(
            "streamstack_time_to_playable_seconds",
            "From encode start to the asset being playable from its start.",
            buckets=JOB_BUCKETS,
        ),
        _gauge(
            "streamstack_queue_depth",
            "Messages in the queue, visible, in flight or delayed.",
            "queue",
            unit="Count",
        ),
        _gauge(
            "streamstack_queue_oldest_message_age_seconds",
            "Age of the oldest message in the queue.",
            "queue",
            unit="Seconds",
        ),
        _gauge("streamstack_queue_dlq_depth", "Messages in the queue's dead-letter queue.", "queue", unit="Count"),
        _histogram(
            "streamstack_handler_duration_seconds",
            "Event handler run time.",
            "event_type",
            buckets=HANDLER_BUCKETS,
        ),
        _counter("streamstack_handler_errors_total", "Event handler runs that raised.", "event_type"),
        _counter("streamstack_webhook_attempts_total", "Webhook delivery attempts."),
        _counter(
            "streamstack_process_restarts_total",
            "Children of `streamstack up` (api, worker, edge) restarted after an unexpected exit.",
            "process",
        ),
        _counter("streamstack_webhook_failures_total", "Webhook delivery attempts that failed."),
        _histogram(
            "streamstack_webhook_delivery_seconds",
            "Latency of one webhook delivery attempt.",
            buckets=LATENCY_BUCKETS,
        ),
        _gauge(
            "streamstack_live_ingest_bitrate_bits",
            "Live ingest bitrate in bits per second.",
            unit="Bits/Second",
        ),
        _gauge("streamstack_live_edge_lag_seconds", "Live edge behind ingest.", unit="Seconds"),
        _gauge(
            "streamstack_worker_heartbeat_timestamp_seconds",
            "Unix time of the worker loop's last turn.",
            unit="Seconds",
            mode="max",
        ),
    )
}


class _HitRatio:
    """Exponentially weighted hit ratio over roughly the last 1000 edge requests of this process."""

    decay = 0.999

    def __init__(self) -> None:
        self.hits = 0.0
        self.total = 0.0

    def add(self, hit: bool) -> float:
        self.hits = self.hits * self.decay + hit
        self.total = self.total * self.decay + 1.0
        return self.hits / self.total


class _Runtime:
    """Process-wide switches and the lazily created Prometheus instruments."""

    def __init__(self) -> None:
        self.enabled = True
        self.prometheus = True
        self.service = "api"
        self.emf: EmfSink | None = None
        self.registry = CollectorRegistry(auto_describe=True)
        self.instruments: dict[str, Any] = {}
        self.writers: dict[tuple[str, ...], Callable[[float], None]] = {}
        self.hit_ratio = _HitRatio()
        self.lock = threading.Lock()


_rt = _Runtime()


def configure_metrics(
    *,
    service: str,
    settings: Settings | None = None,
    enabled: bool | None = None,
    prometheus: bool = True,
    emf: bool = False,
) -> None:
    """Set this process's service name and switches once at start; `enabled` overrides Settings."""
    if service not in SERVICES:
        raise ValueError(f"service must be one of {SERVICES}, not {service!r}")
    if enabled is None:
        enabled = settings.metrics_enabled if settings is not None else _settings_enabled()
    _rt.enabled, _rt.service, _rt.prometheus = enabled, service, prometheus
    _rt.emf = EmfSink(service=service) if emf else None


def _settings_enabled() -> bool:
    from streamstack.settings import get_settings

    return get_settings().metrics_enabled


def metrics_enabled() -> bool:
    """Whether recording is on in this process."""
    return _rt.enabled


def reset_instruments() -> None:
    """Forget every instrument and start a fresh registry (after switching to multiprocess; tests)."""
    with _rt.lock:
        _rt.registry = CollectorRegistry(auto_describe=True)
        _rt.instruments = {}
        _rt.writers = {}
        _rt.hit_ratio = _HitRatio()


def get_registry() -> CollectorRegistry:
    """This process's own registry (single-process exposition)."""
    return _rt.registry


def _create(definition: MetricDef) -> Any:
    common: dict[str, Any] = {
        "name": definition.name,
        "documentation": definition.help,
        "labelnames": definition.labels,
        "registry": _rt.registry,
    }
    if definition.kind == "counter":
        return Counter(**common)
    if definition.kind == "gauge":
        mode = cast(Any, definition.multiprocess_mode or "mostrecent")  # one of prometheus-client's literals
        return Gauge(**common, multiprocess_mode=mode)
    return Histogram(**common, buckets=definition.buckets)


def _instrument(definition: MetricDef) -> Any:
    """Created on first use, so a process exposes only what it records (no fake zero heartbeat in the API)."""
    instrument = _rt.instruments.get(definition.name)
    if instrument is None:
        with _rt.lock:
            instrument = _rt.instruments.get(definition.name)
            if instrument is None:
                instrument = _rt.instruments[definition.name] = _create(definition)
    return instrument


_WRITE_METHOD = {"counter": "inc", "gauge": "set", "histogram": "observe"}


def _writer(name: str, labels: dict[str, str]) -> Callable[[float], None]:
    """The bound inc/set/observe of one labelled child, cached: `labels()` costs more than the write itself."""
    key = (name, *labels.values())
    writer = _rt.writers.get(key)
    if writer is None:
        definition = METRICS[name]
        instrument = _instrument(definition)
        child = instrument.labels(**labels) if labels else instrument
        writer = _rt.writers[key] = getattr(child, _WRITE_METHOD[definition.kind])
    return writer


def record(name: str, value: float = 1.0, **labels: str) -> None:
    """The one write path: Prometheus, and EMF when a sink is active. Counters add `value`."""
    if not _rt.enabled:
        return
    if _rt.prometheus:
        _writer(name, labels)(value)
    if _rt.emf is not None:
        _rt.emf.add(METRICS[name], value, labels)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, not {value!r}")


# --- helpers the API, worker, edge and Lambda call -------------------------------------------------------

_DISABLED: AbstractContextManager[None] = nullcontext()


def observe_handler(event_type: str) -> AbstractContextManager[None]:
    """Wrap one event handler run: its duration always, an error if it raises (the exception propagates)."""
    return _observe_handler(event_type) if _rt.enabled else _DISABLED


@contextmanager
def _observe_handler(event_type: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        record("streamstack_handler_errors_total", event_type=event_type)
        raise
    finally:
        record("streamstack_handler_duration_seconds", time.perf_counter() - start, event_type=event_type)


def record_encoding_state(state: str) -> None:
    """Count a job entering queued, running, completed or failed."""
    _check(state, ENCODING_STATES, "state")
    record("streamstack_encoding_jobs_total", state=state)


def observe_encoding_job(seconds: float) -> None:
    """Wall time of one finished encoding job."""
    record("streamstack_encoding_job_duration_seconds", seconds)


def observe_time_to_playable(seconds: float) -> None:
    """Upload complete to asset ready: the number a viewer-facing SLO is about."""
    record("streamstack_time_to_playable_seconds", seconds)


def observe_edge(cache_result: str, nbytes: int) -> None:
    """One edge response: count, bytes and hit ratio (coalesced requests did not reach origin: hits)."""
    if not _rt.enabled:
        return
    _check(cache_result, CACHE_RESULTS, "cache_result")
    record("streamstack_edge_requests_total", cache_result=cache_result)
    record("streamstack_edge_bytes_total", float(nbytes), cache_result=cache_result)
    record("streamstack_edge_cache_hit_ratio", _rt.hit_ratio.add(cache_result != "miss"))


def observe_origin_fetch(seconds: float) -> None:
    """Latency of one edge fetch from the object store."""
    record("streamstack_edge_origin_fetch_seconds", seconds)


def record_webhook_attempt(seconds: float, *, ok: bool) -> None:
    """One delivery attempt: counted, timed, and counted as failed unless the receiver answered 2xx."""
    record("streamstack_webhook_attempts_total")
    record("streamstack_webhook_delivery_seconds", seconds)
    if not ok:
        record("streamstack_webhook_failures_total")


def set_live_ingest_bitrate(bits_per_second: float) -> None:
    """Live ingest bitrate, fed by the live packager."""
    record("streamstack_live_ingest_bitrate_bits", bits_per_second)


def set_live_edge_lag(seconds: float) -> None:
    """How far the live edge trails ingest."""
    record("streamstack_live_edge_lag_seconds", seconds)


def update_queue_gauges(name: str, stats: QueueStats, dlq_stats: QueueStats | None = None) -> None:
    """Publish a queue's depth, oldest message age and DLQ depth from its `stats()` / `dlq_stats()`."""
    if not _rt.enabled:
        return
    record("streamstack_queue_depth", float(_depth(stats)), queue=name)
    record("streamstack_queue_oldest_message_age_seconds", stats.oldest_age_seconds, queue=name)
    if dlq_stats is not None:
        record("streamstack_queue_dlq_depth", float(_depth(dlq_stats)), queue=name)


def _depth(stats: QueueStats) -> int:
    return stats.visible + stats.in_flight + stats.delayed


def refresh_queue(queue: Any) -> None:
    """`update_queue_gauges` from a Queue adapter; an unavailable backend leaves the last values in place."""
    try:
        update_queue_gauges(queue.name, queue.stats(), queue.dlq_stats())
    except Exception:  # a scrape must not fail because the queue is down
        log.warning("queue stats unavailable", extra={"queue": queue.name}, exc_info=True)


def heartbeat() -> None:
    """Called on every turn of the worker loop; a stale value means the worker stopped."""
    record("streamstack_worker_heartbeat_timestamp_seconds", time.time())


def flush_emf() -> list[dict[str, Any]]:
    """Write the buffered EMF documents (end of a Lambda invocation); nothing when EMF is off."""
    return _rt.emf.flush() if _rt.emf is not None else []


def emit_emf(
    values: Mapping[str, float], *, service: str, labels: Mapping[str, str] | None = None, stream: Any = None
) -> list[dict[str, Any]]:
    """Write the given metric values as EMF at once, outside the buffered path (scripts, one-off jobs)."""
    sink = EmfSink(service=service, stream=stream)
    for name, value in values.items():
        sink.add(METRICS[name], value, labels or {})
    return sink.flush()


def lambda_metrics(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a Lambda entry point: EMF on, Prometheus off, metrics flushed after every invocation."""
    import functools

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _rt.emf is None:
            configure_metrics(service="lambda", prometheus=False, emf=True)
        try:
            return handler(*args, **kwargs)
        finally:
            flush_emf()

    return wrapper


# --- multiprocess and exposition ---------------------------------------------------------------------------


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
    reset_instruments()
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
        return _rt.registry
    registry = CollectorRegistry()
    prom_multiprocess.MultiProcessCollector(registry, path=directory)
    return registry


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
    """Pure ASGI middleware: duration by route template, method and status class, and a 5xx count."""

    def __init__(self, app: ASGIApp, *, service: str = "api", exclude_paths: tuple[str, ...] = ("/metrics",)):
        self.app = app
        prefix = "streamstack_edge" if service == "edge" else "streamstack_api"
        self.duration_metric = f"{prefix}_request_duration_seconds"
        self.errors_metric = f"{prefix}_5xx_total"
        self.exclude_paths = frozenset(exclude_paths)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in self.exclude_paths or not _rt.enabled:
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
        record(self.duration_metric, seconds, route=route, method=method, status_class=f"{status // 100}xx")
        if status >= 500:
            record(self.errors_metric, route=route, method=method)


def instrument_app(
    app: Any,
    *,
    service: str = "api",
    settings: Settings | None = None,
    before_scrape: Callable[[], None] | None = None,
) -> None:
    """One line at app creation: configure, add middleware and `/metrics`; nothing at all when disabled."""
    configure_metrics(service=service, settings=settings)
    if not _rt.enabled:
        return
    app.add_middleware(MetricsMiddleware, service=service)
    mount_metrics(app, before_scrape=before_scrape)


def contract() -> list[dict[str, Any]]:
    """Every metric definition as JSON-able dicts, for the Terraform alarm contract test."""
    return [definition.as_dict() for definition in METRICS.values()]


if __name__ == "__main__":
    import json

    print(json.dumps(contract(), indent=2))
