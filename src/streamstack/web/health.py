"""`GET /v1/metrics/summary`: the last hour of the platform's own metrics, for the console's Health page.

A sampler thread scrapes the Prometheus exposition registry every few seconds into a ring buffer. In the
embedded shape that registry is the multiprocess aggregate (API + edge + worker, see
`observability.exposition`), so one process can chart the whole platform without an external Prometheus.
Counters are turned into rates and ratios over a sliding window at read time, the way PromQL's `rate()`
and `histogram_quantile()` would, so the page shows what a Grafana panel on the same metrics shows.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, FastAPI, Request

from streamstack.keys.auth import require_scope
from streamstack.observability import exposition, metrics
from streamstack.observability.catalogue import STREAM_LABEL
from streamstack.platform import Platform

log = logging.getLogger("streamstack.web.health")

router = APIRouter(tags=["metrics"])

HISTORY_SECONDS = 3600.0
DEFAULT_INTERVAL = 5.0
DEFAULT_RATE_WINDOW = 60.0
API_DURATION = "streamstack_api_request_duration_seconds"
EDGE_REQUESTS = "streamstack_edge_requests_total"
EDGE_BYTES = "streamstack_edge_bytes_total"
JOBS = "streamstack_encoding_jobs_total"
QUEUE_DEPTH = "streamstack_queue_depth"
DLQ_DEPTH = "streamstack_queue_dlq_depth"
LIVE_ACTIVE = "streamstack_live_active_streams"
LIVE_PUBLISH = "streamstack_live_part_publish_seconds"
LIVE_FIGURE_OF = {name: key for key, name in metrics.LIVE_STREAM_FIGURES.items()}  # per-stream metric -> figure
WANTED = frozenset({API_DURATION, EDGE_REQUESTS, EDGE_BYTES, JOBS, QUEUE_DEPTH, DLQ_DEPTH, LIVE_ACTIVE, LIVE_PUBLISH,
                    *LIVE_FIGURE_OF})  # fmt: skip


@dataclass
class Sample:
    """Cumulative values at one instant, already summed over the labels the page does not split by."""

    t: float
    api_buckets: dict[float, float] = field(default_factory=dict)
    api_count: float = 0.0
    api_by_class: dict[str, float] = field(default_factory=dict)
    edge_requests: dict[str, float] = field(default_factory=dict)
    edge_bytes: float = 0.0
    jobs: dict[str, float] = field(default_factory=dict)
    queue_depth: dict[str, float] = field(default_factory=dict)
    dlq_depth: dict[str, float] = field(default_factory=dict)
    live_active: float | None = None
    live_publish_buckets: dict[float, float] = field(default_factory=dict)
    live_streams: dict[str, dict[str, float]] = field(default_factory=dict)  # stream id -> figure -> value


def _add(target: dict, key: Any, value: float) -> None:
    target[key] = target.get(key, 0.0) + value


def _absorb(sample: Sample, name: str, labels: dict[str, str], value: float) -> None:
    """Fold one exposition line into the sample; anything the page does not chart is ignored."""
    if name == f"{API_DURATION}_bucket":
        _add(sample.api_buckets, float(labels["le"]), value)
    elif name == f"{API_DURATION}_count":
        sample.api_count += value
        _add(sample.api_by_class, labels.get("status_class", ""), value)
    elif name == EDGE_REQUESTS:
        _add(sample.edge_requests, labels.get("cache_result", ""), value)
    elif name == EDGE_BYTES:
        sample.edge_bytes += value
    elif name == JOBS:
        _add(sample.jobs, labels.get("state", ""), value)
    elif name == QUEUE_DEPTH:
        sample.queue_depth[labels.get("queue", "")] = value
    elif name == DLQ_DEPTH:
        sample.dlq_depth[labels.get("queue", "")] = value
    elif name == LIVE_ACTIVE:
        sample.live_active = (sample.live_active or 0.0) + value
    elif name == f"{LIVE_PUBLISH}_bucket":
        _add(sample.live_publish_buckets, float(labels["le"]), value)
    elif name in LIVE_FIGURE_OF:
        sample.live_streams.setdefault(labels.get(STREAM_LABEL, ""), {})[LIVE_FIGURE_OF[name]] = value


def take_sample(registry: Any, now: float | None = None) -> Sample:
    """Read a prometheus-client registry (or anything with `collect()`) into one Sample."""
    sample = Sample(t=time.time() if now is None else now)
    for family in registry.collect():
        if family.name in WANTED or f"{family.name}_total" in WANTED:
            for line in family.samples:
                _absorb(sample, line.name, dict(line.labels), float(line.value))
    return sample


def increase(current: float, previous: float) -> float:
    """Counter increase with Prometheus' reset rule: a drop means the counter restarted from zero."""
    return current - previous if current >= previous else current


def quantile(q: float, buckets: dict[float, float]) -> float | None:
    """`histogram_quantile` over cumulative bucket counts (upper bound -> count); None without data."""
    bounds = sorted(buckets)
    if not bounds or buckets[bounds[-1]] <= 0:
        return None
    rank = q * buckets[bounds[-1]]
    lower_bound, lower_count = 0.0, 0.0
    for bound in bounds:
        count = buckets[bound]
        if count >= rank:
            if math.isinf(bound):
                return lower_bound
            if count == lower_count:
                return bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = bound, count
    return lower_bound


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def _delta_map(now: dict, before: dict) -> dict:
    return {key: increase(value, before.get(key, 0.0)) for key, value in now.items()}


def window_point(now: Sample, before: Sample) -> dict[str, Any]:
    """Rates, ratios and quantiles between two samples, as one point of every chart."""
    seconds = max(now.t - before.t, 1e-9)
    requests = increase(now.api_count, before.api_count)
    by_class = _delta_map(now.api_by_class, before.api_by_class)
    buckets = _delta_map(now.api_buckets, before.api_buckets)
    p50, p99 = quantile(0.5, buckets), quantile(0.99, buckets)
    edge = _delta_map(now.edge_requests, before.edge_requests)
    edge_total = sum(edge.values())
    publish = _delta_map(now.live_publish_buckets, before.live_publish_buckets)
    publish_p50, publish_p99 = quantile(0.5, publish), quantile(0.99, publish)
    return {
        "api_requests_per_second": requests / seconds,
        "api_latency_p50_ms": None if p50 is None else p50 * 1000,
        "api_latency_p99_ms": None if p99 is None else p99 * 1000,
        "api_5xx_ratio": _ratio(by_class.get("5xx", 0.0), requests),
        "api_4xx_ratio": _ratio(by_class.get("4xx", 0.0), requests),
        "edge_requests_per_second": edge_total / seconds,
        "edge_hit_ratio": _ratio(edge.get("hit", 0.0) + edge.get("coalesced", 0.0), edge_total),
        "edge_bytes_per_second": increase(now.edge_bytes, before.edge_bytes) / seconds,
        "live_part_publish_p50_ms": None if publish_p50 is None else publish_p50 * 1000,
        "live_part_publish_p99_ms": None if publish_p99 is None else publish_p99 * 1000,
    }


def job_levels(now: Sample, first: Sample) -> dict[str, float]:
    """Jobs waiting and running now (from transition counters), completed and failed within the history."""
    jobs = now.jobs
    queued, running = jobs.get("queued", 0.0), jobs.get("running", 0.0)
    finished = jobs.get("completed", 0.0) + jobs.get("failed", 0.0)
    return {
        "queued": max(queued - running, 0.0) if queued else 0.0,
        "running": max(running - finished, 0.0),
        "completed": increase(jobs.get("completed", 0.0), first.jobs.get("completed", 0.0)),
        "failed": increase(jobs.get("failed", 0.0), first.jobs.get("failed", 0.0)),
    }


def _window_start(samples: Sequence[Sample], index: int, window: float) -> Sample | None:
    """The oldest sample inside `window` seconds before samples[index], else the one just before it."""
    now = samples[index]
    start = None
    for earlier in range(index - 1, -1, -1):
        if now.t - samples[earlier].t > window and start is not None:
            break
        start = samples[earlier]
    return start


def summarize(samples: Sequence[Sample], *, interval: float, window: float) -> dict[str, Any]:
    """The JSON the Health page draws: parallel arrays of timestamps and values (null where undefined)."""
    points = [_window_start(samples, i, window) for i in range(len(samples))]
    rates = [window_point(s, before) if before else {} for s, before in zip(samples, points, strict=True)]
    rate_names = list(window_point(Sample(t=1), Sample(t=0)))
    queues = sorted({name for s in samples for name in (*s.queue_depth, *s.dlq_depth)})
    first = samples[0] if samples else Sample(t=0)
    levels = [job_levels(s, first) for s in samples]
    series: dict[str, Any] = {name: [r.get(name) for r in rates] for name in rate_names}
    series["encoding_jobs"] = {state: [lv[state] for lv in levels] for state in metrics.ENCODING_STATES}
    series["queue_depth"] = {q: [s.queue_depth.get(q) for s in samples] for q in queues}
    series["dlq_depth"] = {q: [s.dlq_depth.get(q) for s in samples] for q in queues}
    series["live_active_streams"] = [s.live_active for s in samples]
    series["live_streams"] = live_stream_series(samples)
    return {
        "interval_seconds": interval,
        "rate_window_seconds": window,
        "history_seconds": HISTORY_SECONDS,
        "metrics_enabled": metrics.metrics_enabled(),
        "t": [round(s.t, 3) for s in samples],
        "series": series,
    }


def live_stream_series(samples: Sequence[Sample]) -> dict[str, dict[str, list[float | None]]]:
    """Each stream seen within the history, each figure over time; null before it connected and after it left."""
    streams = sorted({stream for s in samples for stream in s.live_streams})
    return {
        stream: {key: [s.live_streams.get(stream, {}).get(key) for s in samples] for key in LIVE_FIGURE_OF.values()}
        for stream in streams
    }


class MetricsSampler:
    """Scrapes the registry every `interval` seconds into a one-hour ring buffer, on a daemon thread."""

    def __init__(self, *, registry: Callable[[], Any] = exposition.exposition_registry,
                 before_sample: Callable[[], None] | None = None, interval: float = DEFAULT_INTERVAL,
                 window: float = DEFAULT_RATE_WINDOW) -> None:
        self.registry = registry
        self.before_sample = before_sample
        self.interval = interval
        self.window = window
        self.samples: deque[Sample] = deque(maxlen=int(HISTORY_SECONDS / interval) + 1)
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.thread: threading.Thread | None = None

    def sample(self) -> None:
        """One scrape; a failing scrape is logged and skipped so the page keeps its history."""
        try:
            if self.before_sample is not None:
                self.before_sample()
            taken = take_sample(self.registry())
        except Exception:  # noqa: BLE001 - a scrape must never take the API down
            log.warning("metrics sample failed", exc_info=True)
            return
        with self.lock:
            self.samples.append(taken)

    def sample_if_stale(self) -> None:
        """Readers get a fresh point even when the thread has not ticked yet (or is not running)."""
        with self.lock:
            last = self.samples[-1].t if self.samples else 0.0
        if time.time() - last >= self.interval:
            self.sample()

    def start(self) -> None:
        if self.thread is not None and self.thread.is_alive():
            return
        self.stopping.clear()
        self.thread = threading.Thread(target=self._run, name="metrics-sampler", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        if self.thread is not None:
            self.thread.join(timeout=5)

    def _run(self) -> None:
        self.sample()
        while not self.stopping.wait(self.interval):
            self.sample()

    def summary(self) -> dict[str, Any]:
        self.sample_if_stale()
        with self.lock:
            samples = list(self.samples)
        return summarize(samples, interval=self.interval, window=self.window)


def refresh_queues(platform: Platform) -> Callable[[], None]:
    """Queue gauges are pull-based: read every queue's depth right before each sample."""

    def refresh() -> None:
        if metrics.metrics_enabled():
            for queue in platform.queues.values():
                metrics.refresh_queue(queue)

    return refresh


def attach_sampler(app: FastAPI, platform: Platform, *, interval: float = DEFAULT_INTERVAL,
                   window: float = DEFAULT_RATE_WINDOW) -> MetricsSampler:
    """One sampler per app, running for the app's lifespan (and started lazily if no lifespan runs)."""
    sampler = MetricsSampler(before_sample=refresh_queues(platform), interval=interval, window=window)
    app.state.metrics_sampler = sampler
    inner = app.router.lifespan_context

    @asynccontextmanager
    async def lifespan(app_: Any):  # type: ignore[no-untyped-def]
        sampler.start()
        try:
            async with inner(app_) as state:
                yield state
        finally:
            sampler.stop()

    app.router.lifespan_context = lifespan
    return sampler


@router.get("/v1/metrics/summary", dependencies=[Depends(require_scope("read"))])
def metrics_summary(request: Request) -> dict[str, Any]:
    """The last hour of API, edge, encoding, queue and live metrics, sampled in-process."""
    sampler: MetricsSampler = request.app.state.metrics_sampler
    sampler.start()
    return sampler.summary()

