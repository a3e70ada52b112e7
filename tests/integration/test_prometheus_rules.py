"""The alert rules pass `promtool check rules` and their unit tests, and their expressions hold on real scrapes.

`alert_expression_holds(scrape_text, alertname)` is reusable: the end-to-end test feeds it a scraped
`/metrics` body to show that the matching alert expression evaluates true for that scrape.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamstack.observability import catalogue, metrics
from streamstack.queue.base import QueueStats
from tests.conftest import in_ci

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "deploy" / "prometheus" / "rules.yml"
RULE_TESTS = sorted((ROOT / "deploy" / "prometheus" / "tests").glob("*.yml"))
PROMTOOL = shutil.which("promtool")
NON_EMPTY = [{"labels": "{}", "value": 1}]
PROMTOOL_MISSING = "promtool not installed (Debian/Ubuntu: apt-get install -y prometheus)"
needs_promtool = pytest.mark.skipif(PROMTOOL is None and not in_ci(), reason=PROMTOOL_MISSING)  # CI: it must be there


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL is not None, PROMTOOL_MISSING
    return subprocess.run([PROMTOOL, *args], capture_output=True, text=True, timeout=120)


def alert_rules() -> dict[str, dict[str, Any]]:
    """Every alerting rule of rules.yml by name."""
    groups = yaml.safe_load(RULES.read_text())["groups"]
    return {rule["alert"]: rule for group in groups for rule in group["rules"] if "alert" in rule}


def _series(scrape_text: str) -> list[dict[str, str]]:
    """The scrape as promtool input series, each held constant for 10 minutes."""
    return [
        {
            "series": sample.name + "{" + ",".join(f"{k}={json.dumps(v)}" for k, v in sample.labels.items()) + "}",
            "values": f"{sample.value!r}x10",
        }
        for family in text_string_to_metric_families(scrape_text)
        for sample in family.samples
    ]


def alert_expression_holds(scrape_text: str, alertname: str) -> bool:
    """Whether the alert's PromQL expression returns at least one series on this scrape (promtool evaluates)."""
    expr = alert_rules()[alertname]["expr"]
    test = {
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": _series(scrape_text),
                "promql_expr_test": [{"expr": f"count({expr}) > bool 0", "eval_time": "5m", "exp_samples": NON_EMPTY}],
            }
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "scrape_test.yml"
        path.write_text(yaml.safe_dump(test))
        return promtool("test", "rules", str(path)).returncode == 0


@needs_promtool
def test_rules_are_valid() -> None:
    result = promtool("check", "rules", str(RULES))
    assert result.returncode == 0, result.stdout + result.stderr


@needs_promtool
def test_every_alert_fires_and_resolves_in_the_unit_tests() -> None:
    result = promtool("test", "rules", *map(str, RULE_TESTS))
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_alert_has_a_unit_test_that_shows_it_firing_and_resolving() -> None:
    seen: dict[str, set[str]] = {name: set() for name in alert_rules()}
    for path in RULE_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            for case in test.get("alert_rule_test", []):
                seen[case["alertname"]].add("firing" if case["exp_alerts"] else "quiet")
    assert {name: states for name, states in seen.items() if states != {"firing", "quiet"}} == {}


def test_rules_only_use_defined_metrics() -> None:
    names = {name for rule in alert_rules().values() for name in _metric_names(rule["expr"])}
    assert names and names <= _exposed_names()


def _metric_names(expr: str) -> set[str]:
    return set(re.findall(r"\bstreamstack_[a-z0-9_]+", expr))


def _exposed_names() -> set[str]:
    suffixes = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("",), "gauge": ("",)}
    return {d.name + suffix for d in catalogue.METRICS.values() for suffix in suffixes[d.kind]}


@pytest.fixture
def scrape(fresh_metrics: Any) -> Any:
    fresh_metrics.configure_metrics(service="worker", enabled=True)
    return lambda: generate_latest(metrics.get_registry()).decode()


@needs_promtool
def test_dlq_alert_expression_holds_on_a_scrape_with_a_poison_message(scrape: Any) -> None:
    empty = QueueStats(visible=0, in_flight=0, delayed=0, oldest_age_seconds=0.0)
    metrics.record_encoding_state("completed")
    metrics.update_queue_gauges("encode", empty, empty)
    assert not alert_expression_holds(scrape(), "StreamstackDlqNotEmpty")
    metrics.update_queue_gauges("encode", empty, QueueStats(visible=1, in_flight=0, delayed=0, oldest_age_seconds=3.0))
    assert alert_expression_holds(scrape(), "StreamstackDlqNotEmpty")


@needs_promtool
def test_live_alert_expressions_hold_on_scrapes_of_the_ingest(scrape: Any) -> None:
    """The ingest's own recording functions, scraped: each live alert holds for its fault and not otherwise."""
    healthy = {"ingest_bitrate": 2.5e6, "ingest_frame_rate": 30.0, "latency_seconds": 2.1}
    metrics.record_live_stream("ls_ok", stall_seconds=0.2, transcoder_speed=1.0, **healthy)
    assert not alert_expression_holds(scrape(), "StreamstackLiveIngestStalled")
    assert not alert_expression_holds(scrape(), "StreamstackLiveTranscoderBehind")
    metrics.record_live_stream("ls_slow", stall_seconds=0.3, transcoder_speed=0.7, **healthy)
    assert alert_expression_holds(scrape(), "StreamstackLiveTranscoderBehind")
    assert not alert_expression_holds(scrape(), "StreamstackLiveIngestStalled")
    metrics.record_live_stream("ls_slow", stall_seconds=40.0, transcoder_speed=0.2, **healthy)  # no video at all
    assert alert_expression_holds(scrape(), "StreamstackLiveIngestStalled")
    assert not alert_expression_holds(scrape(), "StreamstackLiveTranscoderBehind"), "the stall explains it"
    metrics.forget_live_stream("ls_slow")  # its publisher left: nothing to alert on
    assert not alert_expression_holds(scrape(), "StreamstackLiveIngestStalled")
