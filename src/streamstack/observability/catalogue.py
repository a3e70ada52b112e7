"""The metric catalogue: every platform metric, defined once, with its Prometheus and CloudWatch contract.

Names, kinds, labels, buckets and units live here only; `metrics` records them and `exposition` serves
them. The CloudWatch namespace is NAMESPACE, for EMF documents and the alarm contract alike.
`python -m streamstack.observability.catalogue` prints the catalogue as JSON.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Kind = Literal["counter", "gauge", "histogram"]

NAMESPACE = "Streamstack"
SERVICES = ("api", "edge", "worker", "ingest", "lambda", "supervisor")
CACHE_RESULTS = ("hit", "miss", "coalesced")
ENCODING_STATES = ("queued", "running", "completed", "failed")
AGGREGATED_AWAY = frozenset({"route", "method", "status_class"})  # too many values for CloudWatch dimensions
# Per live stream: one series per connected stream, removed when its publisher leaves. CloudWatch also gets
# each such metric without it (Service only), so one static alarm watches the worst stream.
STREAM_LABEL = "live_stream_id"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
JOB_BUCKETS = (1.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1200.0, 1800.0, 3600.0, 7200.0)
HANDLER_BUCKETS = (0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0)


@dataclass(frozen=True)
class MetricDef:
    """One metric's contract: Prometheus name and labels, CloudWatch unit and dimensions."""

    name: str
    kind: Kind
    unit: str  # CloudWatch unit: Seconds, Count, Bytes, Bits/Second, Count/Second, None
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    multiprocess_mode: str | None = None  # gauges only: how prometheus-client merges processes

    @property
    def emf_dimensions(self) -> tuple[str, ...]:
        """Service plus the low-cardinality labels; route, method and status class are summed away."""
        return ("Service", *(label for label in self.labels if label not in AGGREGATED_AWAY))

    @property
    def emf_dimension_sets(self) -> tuple[tuple[str, ...], ...]:
        """The dimension sets of its EMF documents: per stream, and rolled up to Service for the alarms."""
        if STREAM_LABEL in self.labels:
            return (self.emf_dimensions, ("Service",))
        return (self.emf_dimensions,)

    @property
    def per_stream(self) -> bool:
        """Its series come and go with live streams (removed, not left stale, when a stream ends)."""
        return STREAM_LABEL in self.labels

    @property
    def cloudwatch_name(self) -> str:
        """Same as the exposition name (counters keep their `_total`), so alarms and queries match."""
        return self.name

    def as_dict(self) -> dict[str, Any]:
        """JSON-able form for contract tests written in other languages or tools."""
        row = {key: list(value) if isinstance(value, tuple) else value for key, value in asdict(self).items()}
        dimension_sets = [list(dimensions) for dimensions in self.emf_dimension_sets]
        return {
            **row,
            "emf_dimensions": list(self.emf_dimensions),
            "emf_dimension_sets": dimension_sets,
            "namespace": NAMESPACE,
        }


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
        _gauge(
            "streamstack_edge_cache_hit_ratio",
            "Share of edge responses served without an origin read (hits and coalesced) since its last update "
            "(about once a second while serving).",
        ),
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
        _counter(
            "streamstack_lambda_records_total",
            "SQS records a Lambda handler processed or reported as failed (batchItemFailures).",
            "handler",
            "outcome",
        ),
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
            "streamstack_live_active_streams",
            "Live streams with a connected publisher.",
            unit="Count",
            mode="livemostrecent",
        ),
        _counter("streamstack_live_parts_total", "LL-HLS parts published (all renditions)."),
        _gauge(
            "streamstack_live_simulcast_broadcasting",
            "Simulcast targets the ingest is writing media to now.",
            unit="Count",
            mode="livemostrecent",
        ),
        _counter("streamstack_live_simulcast_failures_total", "Simulcast restream attempts that failed (errored)."),
        _counter("streamstack_live_publish_refusals_total",
                 "Publishers refused at ingest: key (wrong, disabled or deleted), busy (already live), passphrase "
                 "(SRT), no_video.", "protocol", "reason"),  # fmt: skip
        _histogram(
            "streamstack_live_part_publish_seconds",
            "From a fragment leaving the live encoder to its part and playlists being in the object store.",
            buckets=LATENCY_BUCKETS,
        ),
        _gauge(
            "streamstack_live_transcoder_speed",
            "Media seconds the live encoder produced per wall second over 10 s (below 1: behind real time).",
            STREAM_LABEL,
            mode="livemostrecent",
        ),
        _gauge(
            "streamstack_live_ingest_bitrate_bits_per_second",
            "Bits per second of audio and video the publisher sends (the relay's output, over 5 s).",
            STREAM_LABEL,
            unit="Bits/Second",
            mode="livemostrecent",
        ),
        _gauge(
            "streamstack_live_ingest_frames_per_second",
            "Video frames per second the publisher sends (the relay's progress, over 5 s).",
            STREAM_LABEL,
            unit="Count/Second",
            mode="livemostrecent",
        ),
        _gauge(
            "streamstack_live_ingest_stall_seconds",
            "Seconds since the publisher's last video frame reached the relay (0 while frames flow).",
            STREAM_LABEL,
            unit="Seconds",
            mode="livemostrecent",
        ),
        _gauge(
            "streamstack_live_latency_seconds",
            "Estimated latency of a player at the live edge: wall clock minus the newest part's"
            " program date-time end, plus the hold-back the player keeps.",
            STREAM_LABEL,
            unit="Seconds",
            mode="livemostrecent",
        ),
        _gauge(
            "streamstack_worker_heartbeat_timestamp_seconds",
            "Unix time of the worker loop's last turn.",
            unit="Seconds",
            mode="max",
        ),
    )
}



def contract() -> list[dict[str, Any]]:
    """Every metric definition as JSON-able dicts, for the Terraform alarm contract test."""
    return [definition.as_dict() for definition in METRICS.values()]


if __name__ == "__main__":
    import json

    print(json.dumps(contract(), indent=2))
