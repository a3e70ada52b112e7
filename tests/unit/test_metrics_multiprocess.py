"""`streamstack up` shape: API, worker and edge processes, one `/metrics` that aggregates them all."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families

# Runs as the `up` parent and API process: prepares the shared dir, starts children, then serves /metrics.
PARENT = textwrap.dedent(
    """
    import os, subprocess, sys
    SEPARATOR = "# ---- children ran ----\\n"
    from pathlib import Path
    from fastapi import FastAPI
    from fastapi.testclient import TestClient
    from streamstack.observability import exposition, metrics
    from streamstack.settings import Settings

    directory = Path(sys.argv[1])
    env = {**os.environ, **exposition.prepare_multiprocess(directory)}
    app = FastAPI()

    @app.get("/v1/assets/{asset_id}")
    def get_asset(asset_id: str) -> dict:
        return {"id": asset_id}

    exposition.instrument_app(app, service="api", settings=Settings(metrics_enabled=True))
    client = TestClient(app)
    client.get("/v1/assets/a1")
    sys.stdout.write(client.get("/metrics").text + SEPARATOR)
    for child in sys.argv[2:]:
        subprocess.run([sys.executable, "-c", child], env=env, check=True)
    sys.stdout.write(client.get("/metrics").text)
    """
)
WORKER = textwrap.dedent(
    """
    from streamstack.observability import exposition, metrics
    from streamstack.queue.base import QueueStats
    metrics.configure_metrics(service="worker", enabled=True)
    metrics.record_encoding_state("completed")
    metrics.record("streamstack_worker_heartbeat_timestamp_seconds", {heartbeat})
    metrics.update_queue_gauges("encode", QueueStats({depth}, 0, 0, 1.0), QueueStats({depth}, 0, 0, 1.0))
    """
)
EDGE = textwrap.dedent(
    """
    from streamstack.observability import exposition, metrics
    metrics.configure_metrics(service="edge", enabled=True)
    from streamstack.delivery.metering import ServedCounters
    served = ServedCounters(publish=False)
    served.add("hit", 100)
    served.add("hit", 100)
    served.publish()
    """
)


def parse(exposition: str) -> dict[str, float]:
    return {
        sample.name + str(sorted(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(exposition)
        for sample in family.samples
    }


def scrape(tmp_path: Path, *children: str) -> tuple[dict[str, float], dict[str, float]]:
    """The API's /metrics before and after the children ran."""
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run(
        [sys.executable, "-c", PARENT, str(tmp_path / "prometheus"), *children],
        env=env, capture_output=True, text=True, timeout=60, check=True,
    )  # fmt: skip
    before, after = result.stdout.split("# ---- children ran ----\n")
    return parse(before), parse(after)


def test_api_metrics_endpoint_aggregates_every_process(tmp_path: Path) -> None:
    stale = tmp_path / "prometheus" / "counter_999999.db"
    stale.parent.mkdir()
    stale.write_bytes(b"left over from the previous run")
    alone, samples = scrape(
        tmp_path,
        WORKER.format(heartbeat=100.0, depth=5),
        WORKER.format(heartbeat=200.0, depth=2),
        EDGE,
        EDGE,
    )
    assert not stale.exists(), "the shared directory is cleaned at start"
    assert not any(name.startswith("streamstack_worker_heartbeat") for name in alone), "no fake heartbeat"
    assert samples["streamstack_encoding_jobs_total[('state', 'completed')]"] == 2
    assert samples["streamstack_edge_requests_total[('cache_result', 'hit')]"] == 4
    assert samples["streamstack_edge_bytes_total[('cache_result', 'hit')]"] == 400
    assert samples["streamstack_worker_heartbeat_timestamp_seconds[]"] == 200.0, "heartbeat keeps the max"
    assert samples["streamstack_queue_depth[('queue', 'encode')]"] == 2, "queue gauges keep the latest"
    assert samples["streamstack_queue_dlq_depth[('queue', 'encode')]"] == 2
    api = "[('method', 'GET'), ('route', '/v1/assets/{asset_id}'), ('status_class', '2xx')]"
    assert samples["streamstack_api_request_duration_seconds_count" + api] == 1
