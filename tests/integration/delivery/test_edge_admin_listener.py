"""The edge is internet-facing: `/metrics` and `/_edge/stats` answer only on the operator listener."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from streamstack.db.session import upgrade
from tests.conftest import free_port, make_settings, wait_until


def answers(url: str) -> httpx.Response | None:
    try:
        return httpx.get(url, timeout=5)
    except httpx.TransportError:
        return None


def counted_gets(url: str) -> httpx.Response | None:
    """The admin listener's scrape, once it counts GET requests."""
    scrape = answers(url)
    counted = scrape is not None and 'streamstack_edge_request_duration_seconds_count{method="GET"' in scrape.text
    return scrape if counted else None


def test_operator_endpoints_are_on_the_loopback_listener_not_the_public_port(tmp_path: Path) -> None:
    public, admin = free_port(), free_port()
    upgrade(make_settings(tmp_path / "data").resolved_database_url)  # as `up` does, before its children start
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("STREAMSTACK_")},
           "STREAMSTACK_DATA_DIR": str(tmp_path / "data"), "STREAMSTACK_EDGE_PORT": str(public),
           "STREAMSTACK_EDGE_ADMIN_PORT": str(admin), "STREAMSTACK_EDGE_WORKERS": "2",
           "STREAMSTACK_AUTO_MIGRATE": "false",
           "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "prometheus")}  # as `up` runs it: one aggregate
    (tmp_path / "prometheus").mkdir()
    log = (tmp_path / "edge.log").open("wb")
    edge = subprocess.Popen([sys.executable, "-m", "streamstack", "edge"], env=env, stdout=log, stderr=log)
    try:
        stats = wait_until(lambda: answers(f"http://127.0.0.1:{admin}/_edge/stats"), 60, "the admin listener")
        assert stats.status_code == 200 and set(stats.json()) == {"objects", "served", "playbacks"}
        for path in ("/metrics", "/_edge/stats"):
            response = wait_until(lambda p=path: answers(f"http://127.0.0.1:{public}{p}"), 60, "the public port")
            assert response.status_code == 404, path
            assert "streamstack_" not in response.text and "hits" not in response.text
        # The 404s above, once their worker has recorded them (after their response went out).
        scrape = wait_until(lambda: counted_gets(f"http://127.0.0.1:{admin}/metrics"), 60, "the 404s in /metrics")
        assert scrape.status_code == 200
    finally:
        edge.send_signal(signal.SIGTERM)
        try:
            edge.wait(timeout=30)
        except subprocess.TimeoutExpired:
            edge.kill()
            edge.wait()
        log.close()
    assert answers(f"http://127.0.0.1:{admin}/_edge/stats") is None  # the listener stops with the edge
