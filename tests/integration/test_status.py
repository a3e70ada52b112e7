"""`streamstack status` against a real API (and a real edge): health, queues and DLQ, jobs, edge hit ratio."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from rich.console import Console

from streamstack.cli.status import render, status_command
from streamstack.delivery.metering import ServedCounters
from streamstack.observability import metrics
from streamstack.observability.status import collect_status
from streamstack.settings import Settings
from tests.conftest import LiveServer, make_settings, reserve_port


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """One receive before redrive, so a poison message reaches the DLQ in two receives."""
    return make_settings(tmp_path / "data", queue_max_receive_count=1)


pytestmark = pytest.mark.usefixtures("fresh_metrics")  # the live API serves this process's registry


@pytest.fixture
def live_edge(platform) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    from streamstack.delivery.app import create_edge_app
    from streamstack.platform import build_platform

    edge_platform = build_platform(platform.settings, with_queues=False)
    with LiveServer(create_edge_app(edge_platform), platform.settings.edge_port) as server:
        yield server
    edge_platform.close()


def poison_the_dlq(platform) -> None:  # type: ignore[no-untyped-def]
    """A message received once and never deleted: the next receive redrives it to `encode-dlq`."""
    queue = platform.encode_queue
    queue.send('{"poison": true}')
    assert queue.receive(visibility_timeout=0)
    assert queue.receive() == []


def record_traffic() -> None:
    """What the worker and edge would record: a completed job, two hits and a miss, a fresh heartbeat."""
    for state in ("running", "completed"):
        metrics.record_encoding_state(state)
    served = ServedCounters(publish=False)  # the edge's counters, published here as its schedule does
    for result in ("hit", "hit", "miss"):
        served.add(result, 1000)
    served.publish()
    metrics.heartbeat()


def test_status_reports_health_queues_jobs_and_hit_ratio(platform, live_api, live_edge, admin_key) -> None:
    poison_the_dlq(platform)
    record_traffic()

    status = collect_status(live_api.url, admin_key, live_edge.url)

    assert [(c.name, c.state) for c in status.components] == [("api", "ok"), ("edge", "ok"), ("worker", "ok")]
    assert "catalog ok" in status.components[0].detail
    queues = {q.queue: q for q in status.queues}
    assert queues["encode"].dlq_depth == 1 and queues["encode"].depth == 0
    assert queues["events"].dlq_depth == 0
    assert status.jobs == {"queued": 0, "running": 1, "completed": 1, "failed": 0}
    assert status.edge.hit_ratio == pytest.approx(2 / 3)
    assert status.edge.bytes == 3000
    assert status.healthy and status.metrics_error is None


def test_a_stale_heartbeat_and_an_unreachable_edge_are_down(platform, live_api, admin_key) -> None:
    metrics.record("streamstack_worker_heartbeat_timestamp_seconds", time.time() - 600)
    nothing_there = f"http://127.0.0.1:{reserve_port()}"  # bound, never listening: refused

    status = collect_status(live_api.url, admin_key, nothing_there)

    states = {c.name: c.state for c in status.components}
    assert states == {"api": "ok", "edge": "down", "worker": "down"}
    assert not status.healthy
    assert status.edge.hit_ratio is None


def test_a_down_api_is_reported_not_raised(admin_key) -> None:
    nothing_there = f"http://127.0.0.1:{reserve_port()}"  # bound, never listening: refused

    status = collect_status(nothing_there, admin_key, nothing_there)

    assert {c.name: c.state for c in status.components} == {"api": "down", "edge": "down", "worker": "unknown"}
    assert status.metrics_error and status.queues == []


def test_json_when_stdout_is_not_a_terminal(platform, live_api, live_edge, admin_key, capsys) -> None:
    poison_the_dlq(platform)
    record_traffic()

    assert status_command(live_api.url, admin_key, edge_url=live_edge.url) is True

    printed = json.loads(capsys.readouterr().out)
    assert printed["healthy"] is True
    assert {q["queue"]: q["dlq_depth"] for q in printed["queues"]} == {"encode": 1, "events": 0}
    assert printed["encoding_jobs"]["completed"] == 1
    assert printed["edge"]["hit_ratio"] == pytest.approx(2 / 3)


def test_the_table_shows_every_section(platform, live_api, live_edge, admin_key) -> None:
    poison_the_dlq(platform)
    record_traffic()
    out = StringIO()

    Console(file=out, width=140, color_system=None).print(render(collect_status(live_api.url, None, live_edge.url)))

    text = out.getvalue()
    expected = "component worker queue DLQ-not-empty DLQ-1 jobs-since-start completed hit-ratio 66.7%"
    assert [word for word in expected.split() if word.replace("-", " ") not in text] == [], text
