"""Starting `streamstack up` as a user does, on free ports, for the end-to-end tests."""

from __future__ import annotations

import functools
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from streamstack.platform import Platform
from streamstack.settings import Settings
from tests.conftest import free_port, wait_until  # noqa: F401 - wait_until is re-exported to the e2e tests


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


@dataclass
class Running:
    """A `streamstack up` under test: its URLs, environment, log and exit code once stopped."""

    api: str
    edge: str
    env: dict[str, str]
    log: Path
    edge_admin: str = ""
    returncode: int | None = None
    pid: int = 0  # of the `up` process (the supervisor)

    @property
    def settings(self) -> Settings:
        """The settings the platform's processes read from their environment."""
        fields = {name: value for name, value in self.env.items() if name.startswith("STREAMSTACK_")}
        return Settings(**{name[len("STREAMSTACK_"):].lower(): value for name, value in fields.items()})

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-3000:]

    def cli(self, *args: str) -> str:
        command = [sys.executable, "-m", "streamstack", *args]
        return subprocess.run(command, env=self.env, capture_output=True, text=True, check=True).stdout


PORT_ATTEMPTS = 3


@contextmanager
def start_up(tmp_path: Path, **overrides: str) -> Iterator[Running]:
    """`streamstack up` in its own session; SIGTERM on exit, as Ctrl-C or ECS would stop it.

    Its ports are picked free here and bound by its children, so another test may take one in between:
    then `up` exits saying so, and it is started again on other ports.
    """
    for attempt in range(1, PORT_ATTEMPTS + 1):
        up, process = launch_up(tmp_path, attempt, overrides)
        try:
            wait_until(functools.partial(settled, up, process), 120, "the API and the edge to answer")
            if process.poll() is None and not lost_a_port(up):
                yield up
                return
            if not lost_a_port(up) or attempt == PORT_ATTEMPTS:
                raise AssertionError(f"`streamstack up` exited with {process.returncode}:\n{up.log_tail()}")
        finally:
            stop_up(up, process)


def settled(up: Running, process: subprocess.Popen[bytes]) -> bool:
    """Ready (the API and the edge's operator listener answer), or never will be: it exited or lost a port."""
    if process.poll() is not None or lost_a_port(up):
        return True
    return answers(f"{up.api}/readyz") and answers(f"{up.edge_admin}/_edge/stats")


def lost_a_port(up: Running) -> bool:
    return "address already in use" in up.log_tail().lower()


def launch_up(tmp_path: Path, attempt: int, overrides: dict[str, str]) -> tuple[Running, subprocess.Popen[bytes]]:
    api_port, edge_port, edge_admin_port = free_port(), free_port(), free_port()
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("STREAMSTACK_") and key != "PROMETHEUS_MULTIPROC_DIR"}
    env.update({"STREAMSTACK_DATA_DIR": str(tmp_path / "data"), "STREAMSTACK_API_PORT": str(api_port),
                "STREAMSTACK_EDGE_PORT": str(edge_port), "STREAMSTACK_EDGE_ADMIN_PORT": str(edge_admin_port),
                "STREAMSTACK_RTMP_PORT": str(free_port()), "STREAMSTACK_SRT_PORT": str(free_port()), **overrides})
    up = Running(f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{edge_port}", env,
                 tmp_path / ("up.log" if attempt == 1 else f"up-{attempt}.log"),
                 edge_admin=f"http://127.0.0.1:{edge_admin_port}")
    with up.log.open("wb") as log:
        process = subprocess.Popen([sys.executable, "-m", "streamstack", "up"], env=env, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    up.pid = process.pid
    return up, process


def stop_up(up: Running, process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        up.returncode = process.returncode
        return
    process.send_signal(signal.SIGTERM)
    try:
        up.returncode = process.wait(timeout=45)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture
def small_settings(tmp_path: Path) -> Settings:
    """A migrated data dir with a tiny two-rung ladder (chaos and SIGTERM tests)."""
    from tests.e2e.chaos import small_platform_settings

    return small_platform_settings(tmp_path / "data")


@pytest.fixture
def small_platform(small_settings: Settings) -> Iterator[Platform]:
    from streamstack.platform import build_platform

    built = build_platform(small_settings)
    yield built
    built.close()
