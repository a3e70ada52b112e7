"""The load generator of one run: Locust in this process, or a master here and worker processes (distributed).

One gevent process uses at most one core. On a machine shared with the servers under test, the workers
(one per core the generator may use) let the generator take whatever the servers leave.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from typing import Any

import gevent
from bench.edge import cpu_seconds, free_port
from locust import runners
from locust.env import Environment

from loadtest import viewers

WORKERS_READY_SECONDS = 60.0
# A worker busy at 100% of its core answers heartbeats late; the master must not give its viewers to another.
runners.HEARTBEAT_LIVENESS = 30
REPORT_SECONDS = runners.WORKER_REPORT_INTERVAL


class Generator:
    """Locust's runner for one run (local, or a master with `workers` processes), and its own CPU time."""

    def __init__(self, environment: Environment, mode: str, host: str, path: str, *, workers: int) -> None:
        self.processes: list[subprocess.Popen[bytes]] = []
        if workers == 0:
            self.runner: runners.Runner = environment.create_local_runner()
            return
        port = free_port()
        self.runner = environment.create_master_runner("127.0.0.1", port)
        environment.events.worker_report.add_listener(_merge_viewers)
        command = [sys.executable, "-m", "loadtest.worker", "--master-port", str(port), "--mode", mode,
                   "--host", host, "--path", path]  # fmt: skip
        self.processes = [subprocess.Popen(command, stdin=subprocess.DEVNULL) for _ in range(workers)]
        deadline = time.monotonic() + WORKERS_READY_SECONDS
        while self.runner.worker_count < workers:  # type: ignore[attr-defined]
            if time.monotonic() > deadline or any(p.poll() is not None for p in self.processes):
                self.close()
                raise RuntimeError(f"{workers} Locust workers did not connect in time")
            gevent.sleep(0.2)

    @property
    def user_count(self) -> int:
        return self.runner.user_count

    def cpu(self) -> tuple[float, ...]:
        """CPU-seconds so far of this process and of each worker (the generator's own cost)."""
        own = os.times()
        return (own.user + own.system, *(cpu_seconds([p.pid]) for p in self.processes))

    def stop(self) -> None:
        """Stop every viewer; in distributed mode, wait for the workers' reports of their last seconds."""
        self.runner.stop()
        if self.processes:
            gevent.sleep(REPORT_SECONDS + 0.5)

    def close(self) -> None:
        self.runner.quit()
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _merge_viewers(client_id: str, data: dict[str, Any]) -> None:
    if "viewers" in data:
        viewers.RECORDER.merge(data["viewers"])
