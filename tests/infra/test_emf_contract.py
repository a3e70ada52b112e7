"""Alarms and dashboard widgets on the app's namespace read metrics their service really writes in the aws shape.

For every metric in namespace Streamstack with a Service dimension (alarms.tf as `terraform console` evaluates it,
and the dashboard's metric rows), the test sets that service up as its process does in the aws profile, runs the
code that records the metric, flushes EMF as the service's flusher does, and reads the EMF lines on stdout:
the metric must be there with exactly the dimension keys the alarm or widget names. No scraper runs in the aws
shape, so a metric no service writes as EMF is an alarm that never fires, or (missing data = breaching) one
that fires forever.
"""

from __future__ import annotations

import asyncio
import json
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.infra.test_contract import MONITORING, _alarm_metrics

APP_NAMESPACE = "Streamstack"


def _record_api_request(status: int) -> None:
    """One request through the API's metrics middleware (duration by route, and a 5xx count)."""
    from streamstack.observability.exposition import MetricsMiddleware

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def send(message: dict[str, Any]) -> None:
        return None

    scope = {"type": "http", "path": "/v1/assets", "method": "GET", "root_path": ""}
    asyncio.run(MetricsMiddleware(app, service="api")(scope, None, send))


def _edge_traffic() -> None:
    """The edge's served counters published (as its metering does every second and at shutdown)."""
    from streamstack.delivery.metering import ServedCounters

    counters = ServedCounters(publish=True)
    for result in ("hit", "miss", "coalesced"):
        counters.add(result, 1000)
    counters.publish()


def _live_stream_figures() -> None:
    from streamstack.observability import metrics

    metrics.record_live_stream("ls_1", stall_seconds=0.0, transcoder_speed=1.02, latency_seconds=2.5,
                               ingest_bitrate=2e6, ingest_frame_rate=30.0)  # fmt: skip


def _drivers() -> dict[str, Callable[[], None]]:
    """Per metric: the code the service runs when it records it."""
    from streamstack.observability import metrics

    def encoding_jobs() -> None:
        for state in ("queued", "running", "completed", "failed"):
            metrics.record_encoding_state(state)

    return {
        "streamstack_api_request_duration_seconds": lambda: _record_api_request(200),
        "streamstack_api_5xx_total": lambda: _record_api_request(503),
        "streamstack_edge_requests_total": _edge_traffic,
        "streamstack_edge_cache_hit_ratio": _edge_traffic,
        "streamstack_edge_origin_fetch_seconds": lambda: metrics.observe_origin_fetch(0.02),
        "streamstack_encoding_jobs_total": encoding_jobs,
        "streamstack_encoding_job_duration_seconds": lambda: metrics.observe_encoding_job(42.0),
        "streamstack_time_to_playable_seconds": lambda: metrics.observe_time_to_playable(30.0),
        "streamstack_worker_heartbeat_timestamp_seconds": metrics.heartbeat,
        "streamstack_live_ingest_stall_seconds": _live_stream_figures,
        "streamstack_live_transcoder_speed": _live_stream_figures,
        "streamstack_live_part_publish_seconds": lambda: metrics.observe_live_part(0.05),
    }


_ROW = re.compile(r"\[local\.app_namespace,\s*\"(?P<name>\w+)\"(?P<rest>[^\]{]*)")
_TOKEN = re.compile(r"\"([^\"]*)\"|\b([a-z_]\w*)\b")


def _dashboard_metrics() -> list[tuple[str, str, dict[str, str]]]:
    """(widget, metric name, dimensions) of each dashboard row on an app metric; a loop variable: any value."""
    text = (MONITORING / "main.tf").read_text()
    found = []
    for row in _ROW.finditer(text[text.index("# Dashboard") :]):
        tokens = [quoted or bare for quoted, bare in _TOKEN.findall(row["rest"])]
        found.append(("dashboard", row["name"], dict(zip(tokens[::2], tokens[1::2], strict=True))))
    return found


def _watched() -> list[tuple[str, str, str, frozenset[str]]]:
    """(where, service, metric, dimension keys) of every app metric an alarm or widget reads for one service."""
    rows = [(alarm, name, dims) for alarm, ns, name, dims in _alarm_metrics() if ns == APP_NAMESPACE]
    rows += _dashboard_metrics()
    return sorted({(where, dims["Service"], name, frozenset(dims)) for where, name, dims in rows if "Service" in dims})


def test_the_contract_reads_the_alarms_and_widgets_the_lead_named() -> None:
    watched = {(where.split("-")[0] if where != "dashboard" else where, service, name)
               for where, service, name, _ in _watched()}  # fmt: skip
    assert ("worker", "worker", "streamstack_worker_heartbeat_timestamp_seconds") in watched
    assert ("encoding", "worker", "streamstack_encoding_jobs_total") in watched
    services = {service for _, service, _, _ in _watched()}
    assert services >= {"api", "edge", "worker", "ingest"}, services


@pytest.fixture
def aws_process(fresh_metrics: Any, monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[str], None]]:
    """Set up metrics as `setup_process` does for a service of the aws shape (no flusher thread in the test)."""
    from streamstack.observability import metrics, setup_process
    from streamstack.settings import Settings

    monkeypatch.setattr(metrics, "start_emf_flushing", lambda *args, **kwargs: None, raising=False)
    monkeypatch.setattr("streamstack.observability.structured_logging.configure_logging", lambda *a, **k: None)

    def configure(service: str) -> None:
        setup_process(service=service, settings=Settings(profile="aws"))

    yield configure
    metrics.configure_metrics(service="api", enabled=True)


def _emf_documents(out: str) -> list[dict[str, Any]]:
    documents = []
    for line in out.splitlines():
        if line.startswith("{") and '"_aws"' in line:
            documents.append(json.loads(line))
    return documents


def _written(documents: list[dict[str, Any]], name: str) -> list[tuple[frozenset[str], dict[str, Any]]]:
    """(dimension keys, document) of every dimension set an EMF document declares for `name`."""
    found = []
    for document in documents:
        for directive in document["_aws"]["CloudWatchMetrics"]:
            if directive["Namespace"] != APP_NAMESPACE:
                continue
            if name in {metric["Name"] for metric in directive["Metrics"]}:
                found += [(frozenset(dims), document) for dims in directive["Dimensions"]]
    return found


@pytest.mark.parametrize(("where", "service", "name", "keys"), _watched(),
                         ids=lambda v: v if isinstance(v, str) else "-".join(sorted(v)))  # fmt: skip
def test_the_service_an_alarm_or_widget_names_writes_that_metric_as_emf(
    where: str,
    service: str,
    name: str,
    keys: frozenset[str],
    aws_process: Callable[[str], None],
    capsys: pytest.CaptureFixture[str],
) -> None:
    from streamstack.observability import metrics

    aws_process(service)
    drive = _drivers().get(name)
    assert drive is not None, f"{where}: no known code path records {name}; add its driver here"
    capsys.readouterr()
    drive()
    metrics.flush_emf()
    written = _written(_emf_documents(capsys.readouterr().out), name)
    assert written, f"{where}: {service} in the aws profile writes no EMF for {name}"
    assert keys in {dims for dims, _ in written}, f"{where}: reads {sorted(keys)}, {service} writes {written}"
    assert all(document["Service"] == service for _, document in written)


def test_a_service_flushes_on_a_period_and_at_exit() -> None:
    """A worker of the aws shape, in its own process: the heartbeat reaches stdout from the periodic flush
    while it runs, and what it recorded after the last flush on its way out (SIGTERM ends it as SystemExit)."""
    script = """
import os, signal, sys, time
from streamstack.observability import metrics, setup_process
from streamstack.settings import Settings
metrics.EMF_FLUSH_SECONDS = 0.2  # 10 s in service
setup_process(service="worker", settings=Settings(profile="aws"))
metrics.heartbeat()
time.sleep(0.6)
print("--- period", flush=True)
metrics.record_encoding_state("failed")
signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
os.kill(os.getpid(), signal.SIGTERM)
time.sleep(5)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60,
                            env={"STREAMSTACK_LOG_LEVEL": "WARNING", "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 128 + 15, result.stderr
    during, _, at_exit = result.stdout.partition("--- period")
    assert _written(_emf_documents(during), "streamstack_worker_heartbeat_timestamp_seconds")
    failed = _written(_emf_documents(at_exit), "streamstack_encoding_jobs_total")
    assert failed and failed[0][1]["state"] == "failed", result.stdout
