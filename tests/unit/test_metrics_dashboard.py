"""The Grafana dashboard covers the monitoring list with queries on defined metrics only."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from streamstack.observability.catalogue import METRICS
from tests.conftest import in_ci

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "streamstack.json"

# Monitoring item -> (panel title pattern, metric its query must read).
MONITORING_ITEMS = {
    "API latency": (r"^API latency", "streamstack_api_request_duration_seconds_bucket"),
    "API error rate": (r"^API error rate", "streamstack_api_5xx_total"),
    "streaming latency": (r"^Edge latency", "streamstack_edge_request_duration_seconds_bucket"),
    "streaming errors": (r"^Edge errors", "streamstack_edge_5xx_total"),
    "CDN cache hit ratio": (r"cache hit ratio", "streamstack_edge_requests_total"),
    "encoding job states": (r"^Encoding job states", "streamstack_encoding_jobs_total"),
    "5XX errors": (r"5XX", "streamstack_api_5xx_total"),
    "DLQ size": (r"^DLQ size", "streamstack_queue_dlq_depth"),
    "handler duration": (r"^Handler duration", "streamstack_handler_duration_seconds_bucket"),
    "handler errors": (r"^Handler errors", "streamstack_handler_errors_total"),
    "live active streams": (r"^Live streams", "streamstack_live_active_streams"),
    "live ingest bitrate": (r"^Live ingest bitrate", "streamstack_live_ingest_bitrate_bits_per_second"),
    "live ingest frame rate": (r"^Live ingest frame rate", "streamstack_live_ingest_frames_per_second"),
    "live transcoder speed": (r"^Live transcoder speed", "streamstack_live_transcoder_speed"),
    "live part publish lag": (r"^Live part publish lag", "streamstack_live_part_publish_seconds_bucket"),
    "live latency estimate": (r"^Live latency", "streamstack_live_latency_seconds"),
    "live ingest stall": (r"^Live ingest stall", "streamstack_live_ingest_stall_seconds"),
}
SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("",), "gauge": ("",)}
DEFINED = {d.name + suffix for d in METRICS.values() for suffix in SUFFIXES[d.kind]}


def dashboard() -> dict[str, Any]:
    return json.loads(DASHBOARD.read_text())


def query_panels() -> list[dict[str, Any]]:
    return [panel for panel in dashboard()["panels"] if panel["type"] != "row"]


def exprs(panel: dict[str, Any]) -> list[str]:
    return [target["expr"] for target in panel["targets"]]


def metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bstreamstack_[a-z0-9_]+", expr))


@pytest.mark.parametrize("item", MONITORING_ITEMS)
def test_each_monitoring_item_has_a_panel_reading_a_defined_metric(item: str) -> None:
    title, metric = MONITORING_ITEMS[item]
    assert metric in DEFINED
    matching = [p for p in query_panels() if re.search(title, p["title"]) and any(metric in e for e in exprs(p))]
    assert matching, f"no panel for {item}"


def test_every_query_reads_only_defined_metrics() -> None:
    used = {name for panel in query_panels() for expr in exprs(panel) for name in metric_names(expr)}
    assert used - DEFINED == set()
    assert used, "the dashboard queries something"


def test_datasource_is_a_template_variable_used_by_every_panel() -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource"
    assert variables["datasource"]["query"] == "prometheus"
    for panel in query_panels():
        assert panel["datasource"]["uid"] == "${datasource}", panel["title"]
        assert all(t["datasource"]["uid"] == "${datasource}" for t in panel["targets"]), panel["title"]


def test_panels_have_unique_ids_and_fit_the_grid() -> None:
    panels = dashboard()["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    for panel in panels:
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]


@pytest.mark.skipif(shutil.which("promtool") is None and not in_ci(),
                    reason="promtool not installed (apt-get install -y prometheus); under CI=true this fails")
def test_every_query_is_valid_promql(tmp_path: Path) -> None:
    """promtool parses each query as a recording rule, with Grafana's interval variable substituted."""
    queries = [e.replace("$__rate_interval", "5m") for p in query_panels() for e in exprs(p)]
    recording = [{"record": f"q:{i}", "expr": query} for i, query in enumerate(queries)]
    rules = {"groups": [{"name": "dashboard", "rules": recording}]}
    path = tmp_path / "dashboard_rules.yml"
    path.write_text(yaml.safe_dump(rules))
    result = subprocess.run(["promtool", "check", "rules", str(path)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
