"""The platform at a glance, from the API's readiness checks and one `/metrics` scrape (`streamstack status`).

In the embedded shape the API's `/metrics` is the multiprocess aggregate of the API, worker and edge
processes, so one scrape answers for all of them: the worker is alive when its heartbeat gauge is fresh,
queue gauges are refreshed by the API at scrape time, and jobs and edge requests are counters since `up`
started. A component that cannot be judged from here (no heartbeat in a per-process scrape) is "unknown".
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from streamstack.observability.catalogue import STREAM_LABEL
from streamstack.observability.metrics import LIVE_STREAM_FIGURES

WORKER_STALE_SECONDS = 120.0  # the StreamstackWorkerStopped threshold in deploy/prometheus/rules.yml
LIVE_STALL_SECONDS = 15.0  # the StreamstackLiveIngestStalled threshold
LIVE_MIN_SPEED = 0.95  # the StreamstackLiveTranscoderBehind threshold
TIMEOUT_SECONDS = 5.0
EDGE_PROBE_PATH = "/healthz"  # on the public port (stats are on the operator listener); a CDN in front may answer 4xx
JOB_STATES = ("queued", "running", "completed", "failed")

Samples = list[tuple[str, dict[str, str], float]]


@dataclass(frozen=True)
class Component:
    """One process's health; `healthy` is None when this scrape cannot tell."""

    name: str
    healthy: bool | None
    detail: str

    @property
    def state(self) -> str:
        return {True: "ok", False: "down", None: "unknown"}[self.healthy]


@dataclass(frozen=True)
class QueueStatus:
    queue: str
    depth: float
    oldest_age_seconds: float | None
    dlq_depth: float | None


@dataclass(frozen=True)
class EdgeTraffic:
    """Edge requests by cache result and bytes served; coalesced requests never reached origin: hits."""

    requests: dict[str, float] = field(default_factory=dict)
    bytes: float = 0.0

    @property
    def total(self) -> float:
        return sum(self.requests.values())

    @property
    def hit_ratio(self) -> float | None:
        hits = self.requests.get("hit", 0.0) + self.requests.get("coalesced", 0.0)
        return hits / self.total if self.total else None


@dataclass(frozen=True)
class LiveStreamStatus:
    """One connected live stream's figures (None where not measured yet)."""

    live_stream_id: str
    ingest_bitrate: float | None = None
    ingest_frame_rate: float | None = None
    stall_seconds: float | None = None
    transcoder_speed: float | None = None
    latency_seconds: float | None = None

    @property
    def state(self) -> str:
        """stalled, behind (slower than real time) or ok: what the two live alerts would say."""
        if self.stall_seconds is not None and self.stall_seconds > LIVE_STALL_SECONDS:
            return "stalled"
        if self.transcoder_speed is not None and self.transcoder_speed < LIVE_MIN_SPEED:
            return "behind"
        return "ok"


@dataclass(frozen=True)
class LiveStatus:
    """Connected streams, and the mean part publish lag since the ingest started (None: no part yet)."""

    active_streams: float | None = None
    streams: list[LiveStreamStatus] = field(default_factory=list)
    part_publish_seconds: float | None = None


@dataclass(frozen=True)
class PlatformStatus:
    api_url: str
    edge_url: str
    components: list[Component]
    queues: list[QueueStatus]
    jobs: dict[str, float]
    edge: EdgeTraffic
    metrics_error: str | None = None
    live: LiveStatus = field(default_factory=LiveStatus)

    @property
    def healthy(self) -> bool:
        """Nothing is known to be down (unknown is not down: the aws shape has no worker in the scrape)."""
        return all(component.healthy is not False for component in self.components)

    def as_dict(self) -> dict[str, Any]:
        """The JSON printed when stdout is not a terminal (scripts, CI, monitoring probes)."""
        return {
            "healthy": self.healthy,
            "api_url": self.api_url,
            "edge_url": self.edge_url,
            "components": [{**asdict(c), "state": c.state} for c in self.components],
            "queues": [asdict(q) for q in self.queues],
            "encoding_jobs": self.jobs,
            "edge": {"requests": self.edge.requests, "bytes": self.edge.bytes, "hit_ratio": self.edge.hit_ratio},
            "live": {**asdict(self.live), "streams": [{**asdict(s), "state": s.state} for s in self.live.streams]},
            "metrics_error": self.metrics_error,
        }


def collect_status(
    api_url: str, api_key: str | None, edge_url: str, *, now: Callable[[], float] = time.time
) -> PlatformStatus:
    """Ask the API (readiness, then `/metrics`) and the edge; never raises for a component that is down."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
    with httpx.Client(base_url=api_url, headers=headers, timeout=TIMEOUT_SECONDS) as client:
        api = check_api(client)
        samples, metrics_error = scrape(client)
    return PlatformStatus(
        api_url=api_url,
        edge_url=edge_url,
        components=[api, check_edge(edge_url), worker_component(samples, now(), metrics_error)],
        queues=queues_from(samples),
        jobs=jobs_from(samples),
        edge=edge_from(samples),
        metrics_error=metrics_error,
        live=live_from(samples),
    )


def check_api(client: httpx.Client) -> Component:
    """`/readyz`: the API answers and its catalog, store and queue answer it."""
    try:
        response = client.get("/readyz")
        checks = response.json().get("checks", {})
    except (httpx.HTTPError, ValueError) as exc:
        return Component("api", False, f"unreachable: {_reason(exc)}")
    detail = ", ".join(f"{name} {state}" for name, state in checks.items()) or f"HTTP {response.status_code}"
    return Component("api", response.status_code == 200, detail)


def check_edge(edge_url: str) -> Component:
    """Reachable when it answers below 500 (CloudFront in front may answer 403 or 404: that counts too)."""
    try:
        response = httpx.get(edge_url.rstrip("/") + EDGE_PROBE_PATH, timeout=TIMEOUT_SECONDS)
    except httpx.HTTPError as exc:
        return Component("edge", False, f"unreachable at {edge_url}: {_reason(exc)}")
    return Component("edge", response.status_code < 500, f"HTTP {response.status_code} at {edge_url}")


def scrape(client: httpx.Client) -> tuple[Samples, str | None]:
    """Every sample of the API's `/metrics`, or none and why (metrics disabled, API down)."""
    try:
        response = client.get("/metrics")
        response.raise_for_status()
    except httpx.HTTPError as exc:
        return [], f"/metrics unavailable: {_reason(exc)}"
    return parse_samples(response.text), None


def parse_samples(text: str) -> Samples:
    """Prometheus text exposition as (sample name, labels, value)."""
    return [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]


def _reason(exc: Exception) -> str:
    return str(exc) or type(exc).__name__


def _values(samples: Samples, name: str, label: str | None = None) -> dict[str, float]:
    """One metric's values keyed by a label (summed over the others); key "" without a label."""
    values: dict[str, float] = {}
    for sample_name, labels, value in samples:
        if sample_name == name:
            key = labels.get(label, "") if label else ""
            values[key] = values.get(key, 0.0) + value
    return values


def worker_component(samples: Samples, now: float, metrics_error: str | None) -> Component:
    """Alive while its loop's heartbeat is younger than the alert threshold."""
    beats = [value for name, _, value in samples if name == "streamstack_worker_heartbeat_timestamp_seconds"]
    if not beats:
        return Component("worker", None, metrics_error or "no heartbeat in this scrape (not started yet?)")
    age = max(0.0, now - max(beats))
    return Component("worker", age <= WORKER_STALE_SECONDS, f"heartbeat {age:.0f} s ago")


def queues_from(samples: Samples) -> list[QueueStatus]:
    depth = _values(samples, "streamstack_queue_depth", "queue")
    oldest = _values(samples, "streamstack_queue_oldest_message_age_seconds", "queue")
    dlq = _values(samples, "streamstack_queue_dlq_depth", "queue")
    return [QueueStatus(name, depth[name], oldest.get(name), dlq.get(name)) for name in sorted(depth)]


def jobs_from(samples: Samples) -> dict[str, float]:
    counted = _values(samples, "streamstack_encoding_jobs_total", "state")
    return {state: counted.get(state, 0.0) for state in JOB_STATES}


def edge_from(samples: Samples) -> EdgeTraffic:
    bytes_served = sum(_values(samples, "streamstack_edge_bytes_total").values())
    return EdgeTraffic(_values(samples, "streamstack_edge_requests_total", "cache_result"), bytes_served)


def live_from(samples: Samples) -> LiveStatus:
    """Per-stream series exist only while a publisher is connected (the ingest removes them after)."""
    figures: dict[str, dict[str, float]] = {}
    for key, name in LIVE_STREAM_FIGURES.items():
        for stream, value in _values(samples, name, STREAM_LABEL).items():
            figures.setdefault(stream, {})[key] = value
    active = _values(samples, "streamstack_live_active_streams")
    published = sum(_values(samples, "streamstack_live_part_publish_seconds_count").values())
    lag_total = sum(_values(samples, "streamstack_live_part_publish_seconds_sum").values())
    return LiveStatus(
        active_streams=active.get(""),
        streams=[LiveStreamStatus(stream, **figures[stream]) for stream in sorted(figures)],
        part_publish_seconds=lag_total / published if published else None,
    )
