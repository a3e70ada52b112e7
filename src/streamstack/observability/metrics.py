"""Recording: the one write path every producer calls (API, worker, edge, Lambda), to Prometheus and EMF.

What exists is defined in `catalogue`; how it is served (`/metrics`, multiprocess files) is `exposition`.
A process calls `configure_metrics` once at setup (`observability.setup_process`); the disabled path
(Settings.metrics_enabled false) is one global check per call.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import math
import os
import threading
import time
from bisect import bisect_left
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager, nullcontext, suppress
from typing import TYPE_CHECKING, Any, cast

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics

from streamstack.observability.catalogue import ENCODING_STATES, METRICS, SERVICES, MetricDef
from streamstack.observability.emf import EmfSink

if TYPE_CHECKING:
    from streamstack.queue.base import QueueStats
    from streamstack.settings import Settings

log = logging.getLogger(__name__)
MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"  # set by `up` (exposition.prepare_multiprocess) for its children
EMF_FLUSH_SECONDS = 10.0  # six flushes a CloudWatch minute: gauges' last values, and samples the heartbeat alarm counts
disable_created_metrics()  # `_created` series double the exposition and no rule or panel reads them


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
        self.lock = threading.Lock()
        self.flusher: threading.Thread | None = None


_rt = _Runtime()


def configure_metrics(
    *,
    service: str,
    settings: Settings | None = None,
    enabled: bool | None = None,
    prometheus: bool = True,
    emf: bool = False,
) -> None:
    """Set this process's service name and switches once at process setup; `enabled` overrides Settings."""
    if service not in SERVICES:
        raise ValueError(f"service must be one of {SERVICES}, not {service!r}")
    if enabled is None:
        if settings is None:
            raise TypeError("configure_metrics needs the process's settings (or an explicit enabled=)")
        enabled = settings.metrics_enabled
    _rt.enabled, _rt.service, _rt.prometheus = enabled, service, prometheus
    _rt.emf = EmfSink(service=service) if emf else None


def emf_enabled() -> bool:
    """Whether this process writes EMF (Lambda, and every service of the aws shape)."""
    return _rt.emf is not None


def metrics_enabled() -> bool:
    """Whether recording is on in this process."""
    return _rt.enabled


def reset_instruments() -> None:
    """Forget every instrument and start a fresh registry (after switching to multiprocess; tests)."""
    with _rt.lock:
        _rt.registry = CollectorRegistry(auto_describe=True)
        _rt.instruments = {}
        _rt.writers = {}


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


class FlushSchedule:
    """Runs `flush` at most once per interval, and once more at the end of an interval that saw a `poke`.

    For figures kept as plain numbers on a hot path: one metrics write per interval instead of one per event,
    and the last interval before idle is written too. Off an event loop (tests, scripts) a poke flushes at once.
    """

    def __init__(self, flush: Callable[[], None], interval: float = 1.0) -> None:
        self._flush, self._interval = flush, interval
        self._next = 0.0
        self._scheduled = False

    def poke(self) -> None:
        now = time.monotonic()
        if now >= self._next:
            self.run()
        elif not self._scheduled:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:
                self.run()
                return
            self._scheduled = True
            loop.call_later(self._next - now, self.run)

    def run(self) -> None:
        """Flush now (also at shutdown, so nothing is lost)."""
        self._scheduled = False
        self._next = time.monotonic() + self._interval
        self._flush()


class HistogramTally:
    """One histogram's observations added up in the process and written to Prometheus once a second.

    prometheus_client's observe takes a lock for the sum and one per bucket (3.2 us of the edge's 8.4 us playlist
    path); here an observation is a bisect and two additions, and a flush adds each labelled series' increase to
    its buckets and sum in one go. For one thread (the event loop that observes); Prometheus only, not EMF.
    """

    def __init__(self, name: str, *, interval: float = 1.0) -> None:
        definition = METRICS[name]
        if definition.kind != "histogram":
            raise ValueError(f"{name} is a {definition.kind}, not a histogram")
        self.name = name
        self._bounds = (*definition.buckets, math.inf)  # prometheus_client's buckets, +Inf added as it adds it
        self._tallies: dict[tuple[str, ...], list[float]] = {}  # label values -> [sum, count per bucket...]
        self.schedule = FlushSchedule(self.flush, interval)

    def observe(self, value: float, *label_values: str) -> None:
        tally = self._tallies.get(label_values)
        if tally is None:
            tally = self._tallies[label_values] = [0.0] * (len(self._bounds) + 1)
        tally[0] += value
        tally[bisect_left(self._bounds, value) + 1] += 1  # the first bucket whose bound is >= value, as observe
        self.schedule.poke()

    def flush(self) -> None:
        """Write what was observed since the last flush."""
        tallies, self._tallies = self._tallies, {}
        if not _rt.enabled or not _rt.prometheus:
            return
        instrument = _instrument(METRICS[self.name])
        for label_values, tally in tallies.items():
            _add_observations(instrument.labels(*label_values), tally[0], tally[1:])


def _add_observations(child: Any, total: float, bucket_counts: list[float]) -> None:
    """What `observe` does, for many observations at once (prometheus_client has no batch call): the sum, and
    each bucket's own count (its exposition makes them cumulative), in this process's values or mmap files."""
    child._sum.inc(total)
    for bucket, count in zip(child._buckets, bucket_counts, strict=True):
        if count:
            bucket.inc(count)


def _check(value: str, allowed: tuple[str, ...], what: str) -> None:
    if value not in allowed:
        raise ValueError(f"{what} must be one of {allowed}, not {value!r}")


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


def set_live_active_streams(count: int) -> None:
    """Live sessions with a publisher, from the ingest's supervision loop."""
    record("streamstack_live_active_streams", float(count))


def set_live_simulcast_broadcasting(count: int) -> None:
    """Simulcast targets receiving media, from the ingest's supervision loop."""
    record("streamstack_live_simulcast_broadcasting", float(count))


def count_live_simulcast_failure() -> None:
    record("streamstack_live_simulcast_failures_total")


def observe_live_part(publish_seconds: float) -> None:
    """One LL-HLS part published, and how long the packager took to make it fetchable."""
    record("streamstack_live_parts_total")
    record("streamstack_live_part_publish_seconds", publish_seconds)


LIVE_PROTOCOLS = ("rtmp", "srt")
LIVE_REFUSALS = ("key", "busy", "passphrase", "no_video")


def count_live_refusal(protocol: str, reason: str) -> None:
    """A publisher refused at ingest (garbage that never made a handshake is not counted: it is not one)."""
    _check(protocol, LIVE_PROTOCOLS, "protocol")
    _check(reason, LIVE_REFUSALS, "reason")
    record("streamstack_live_publish_refusals_total", protocol=protocol, reason=reason)


LIVE_STREAM_FIGURES = {  # keyword of record_live_stream -> its per-stream metric
    "ingest_bitrate": "streamstack_live_ingest_bitrate_bits_per_second",
    "ingest_frame_rate": "streamstack_live_ingest_frames_per_second",
    "stall_seconds": "streamstack_live_ingest_stall_seconds",
    "transcoder_speed": "streamstack_live_transcoder_speed",
    "latency_seconds": "streamstack_live_latency_seconds",
}


def record_live_stream(live_stream_id: str, **figures: float | None) -> None:
    """One connected stream's figures (keywords of LIVE_STREAM_FIGURES); None: not measurable yet, not written."""
    for key, value in figures.items():
        if value is not None:
            record(LIVE_STREAM_FIGURES[key], value, live_stream_id=live_stream_id)


def forget_live_stream(live_stream_id: str) -> None:
    """Its publisher left: drop every per-stream series of it, so none lingers with a stale value.

    Multiprocess files cannot delete a series: there its value becomes NaN, which exposition leaves out.
    """
    if not _rt.enabled or not _rt.prometheus:
        return
    for definition in METRICS.values():
        if definition.per_stream:
            _rt.writers.pop((definition.name, live_stream_id), None)
            instrument = _rt.instruments.get(definition.name)
            if instrument is None:
                continue
            if os.environ.get(MULTIPROC_ENV):
                instrument.labels(live_stream_id).set(math.nan)
            else:
                with suppress(KeyError):
                    instrument.remove(live_stream_id)


def observe_origin_fetch(seconds: float) -> None:
    """Latency of one edge fetch from the object store."""
    record("streamstack_edge_origin_fetch_seconds", seconds)


def record_webhook_attempt(seconds: float, *, ok: bool) -> None:
    """One delivery attempt: counted, timed, and counted as failed unless the receiver answered 2xx."""
    record("streamstack_webhook_attempts_total")
    record("streamstack_webhook_delivery_seconds", seconds)
    if not ok:
        record("streamstack_webhook_failures_total")


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


def record_lambda_batch(handler: str, *, processed: int, failed: int) -> None:
    """One Lambda batch: records handled and records reported back in batchItemFailures."""
    record("streamstack_lambda_records_total", float(processed), handler=handler, outcome="processed")
    record("streamstack_lambda_records_total", float(failed), handler=handler, outcome="failed")


def heartbeat() -> None:
    """Called on every turn of the worker loop; a stale value means the worker stopped."""
    record("streamstack_worker_heartbeat_timestamp_seconds", time.time())


def flush_emf() -> list[dict[str, Any]]:
    """Write the buffered EMF documents (end of a Lambda invocation); nothing when EMF is off."""
    return _rt.emf.flush() if _rt.emf is not None else []


def start_emf_flushing(period: float | None = None) -> None:
    """A long-running service's EMF: flushed every `period` by a daemon thread, and once more at exit.

    Every service ends on SIGTERM through a normal interpreter exit (its handler stops it or raises
    SystemExit), so what it recorded after the last period still reaches CloudWatch. Once per process.
    """
    with _rt.lock:
        if _rt.flusher is not None:
            return
        every = EMF_FLUSH_SECONDS if period is None else period
        _rt.flusher = threading.Thread(target=_flush_every, args=(every,), name="emf-flush", daemon=True)
    atexit.register(flush_emf)
    _rt.flusher.start()


def _flush_every(period: float) -> None:
    while True:
        time.sleep(period)
        try:
            flush_emf()
        except Exception:  # noqa: BLE001 - stdout gone (closed pipe): the service keeps running without EMF
            log.warning("EMF flush failed", exc_info=True)


def emit_emf(
    values: Mapping[str, float], *, service: str, labels: Mapping[str, str] | None = None, stream: Any = None
) -> list[dict[str, Any]]:
    """Write the given metric values as EMF at once, outside the buffered path (scripts, one-off jobs)."""
    sink = EmfSink(service=service, stream=stream)
    for name, value in values.items():
        sink.add(METRICS[name], value, labels or {})
    return sink.flush()


def lambda_metrics(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a Lambda entry point: what it recorded is flushed as EMF after every invocation.

    The EMF sink itself is switched on at process setup (`setup_process(service="lambda", settings=...)`).
    """
    import functools

    @functools.wraps(handler)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        finally:
            flush_emf()

    return wrapper
