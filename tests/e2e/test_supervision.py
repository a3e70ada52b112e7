"""`streamstack up` supervises its children: one that crashes is restarted with backoff, logged and counted,
and the others keep serving meanwhile."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from streamstack.observability.status import parse_samples
from tests.conftest import bearer
from tests.e2e.conftest import Running, start_up, wait_until
from tests.e2e.processes import child_named, children_of, command_of

pytestmark = pytest.mark.e2e


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    with start_up(tmp_path, STREAMSTACK_ENCODER="none", STREAMSTACK_EDGE_WORKERS="2") as up:
        yield up
    assert up.returncode == 0, up.log_tail()


def status(url: str) -> int | None:
    try:
        return httpx.get(url, timeout=5).status_code
    except httpx.TransportError:
        return None


def restarts(up: Running) -> dict[str, float]:
    text = httpx.get(f"{up.api}/metrics", timeout=10).raise_for_status().text
    return {labels["process"]: value for name, labels, value in parse_samples(text)
            if name == "streamstack_process_restarts_total"}


def test_a_crashed_child_is_restarted_while_the_others_keep_serving(running: Running) -> None:
    up_pid = running.pid
    key = running.cli("keys", "create", "--name", "supervision").strip()
    headers = bearer(key)
    assert httpx.get(f"{running.api}/v1/assets", headers=headers).status_code == 200

    api_pid = child_named(up_pid, "api")
    assert api_pid is not None
    os.kill(api_pid, signal.SIGKILL)
    wait_until(lambda: child_named(up_pid, "api") not in (None, api_pid), 30, "the API to be restarted")
    assert status(f"{running.edge}/healthz") == 200  # the edge kept serving
    wait_until(lambda: status(f"{running.api}/readyz") == 200, 60, "the restarted API to answer")
    assert httpx.get(f"{running.api}/v1/assets", headers=headers).status_code == 200

    edge_pid = child_named(up_pid, "edge")
    assert edge_pid is not None
    edge_workers = children_of(edge_pid)
    assert len(edge_workers) >= 2, "granian runs its workers as child processes"
    os.kill(edge_pid, signal.SIGKILL)  # its workers are orphaned: the supervisor must not leave them serving
    wait_until(lambda: child_named(up_pid, "edge") not in (None, edge_pid), 30, "the edge to be restarted")
    wait_until(lambda: not any(command_of(pid) for pid in edge_workers), 30, "the orphaned edge workers to go")
    wait_until(lambda: status(f"{running.edge}/healthz") == 200, 60, "the restarted edge to answer")
    assert status(f"{running.api}/readyz") == 200

    worker_pid = child_named(up_pid, "worker")
    assert worker_pid is not None
    os.kill(worker_pid, signal.SIGKILL)
    wait_until(lambda: child_named(up_pid, "worker") not in (None, worker_pid), 30, "the worker to be restarted")

    assert wait_until(lambda: restarts(running) == {"api": 1.0, "edge": 1.0, "worker": 1.0} or None, 30,
                      "every restart to be counted"), restarts(running)
    log = running.log.read_text(errors="replace")
    for name in ("api", "edge", "worker"):
        assert f"{name} exited (killed by SIGKILL)" in log, running.log_tail()
