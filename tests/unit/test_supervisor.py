"""The supervisor's restart policy on real processes, with a hand-driven clock: backoff doubles for a child that
keeps crashing, resets once a child has run long enough, and a sibling is never touched."""

from __future__ import annotations

import os
import signal
import sys
from typing import Any

import pytest

from streamstack.cli import supervisor as supervision
from streamstack.cli.supervisor import Supervisor
from streamstack.observability import metrics

CRASH = [sys.executable, "-c", "raise SystemExit(3)"]
SLEEP = [sys.executable, "-c", "import time; time.sleep(120)"]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def counted(fresh_metrics: Any) -> None:
    fresh_metrics.configure_metrics(service="supervisor", enabled=True)


def restarts(name: str) -> float | None:
    return metrics.get_registry().get_sample_value("streamstack_process_restarts_total", {"process": name})


def test_a_crashing_child_is_restarted_with_doubling_backoff_and_its_sibling_keeps_running(counted) -> None:
    clock = Clock()
    supervisor = Supervisor({"crasher": CRASH, "sleeper": SLEEP}, os.environ, clock=clock)
    crasher, sleeper = supervisor.children
    for child in supervisor.children:
        supervisor.spawn(child)
    sleeper_pid = sleeper.process.pid  # type: ignore[union-attr]
    try:
        for expected_delay in (0.5, 1.0, 2.0, 4.0):
            crasher.process.wait(timeout=30)  # type: ignore[union-attr]
            clock.now += 1.0  # ran 1 s: a quick crash
            supervisor.check()
            assert crasher.process is None and crasher.restart_at == clock.now + expected_delay
            clock.now += expected_delay - 0.01
            supervisor.check()
            assert crasher.process is None  # not before its backoff
            clock.now += 0.01
            supervisor.check()
            assert crasher.process is not None
        assert restarts("crasher") == 4 and restarts("sleeper") is None
        assert sleeper.process is not None and sleeper.process.pid == sleeper_pid and sleeper.process.poll() is None

        crasher.process.wait(timeout=30)
        clock.now += supervision.STABLE_SECONDS  # it ran long enough before this crash: backoff starts over
        supervisor.check()
        assert crasher.restart_at == clock.now + supervision.INITIAL_BACKOFF_SECONDS
    finally:
        supervisor.shutdown()
    assert sleeper.process.returncode == -signal.SIGTERM


def test_up_gives_its_ingest_a_drain_that_ends_inside_the_stop_timeout(tmp_path: Any) -> None:
    """Ctrl-C under `up` must close a live session as a recording, not be SIGKILLed mid-drain (ECS's 100 s)."""
    from streamstack.cli.run import UP_INGEST_DRAIN_SECONDS, up_environment
    from streamstack.settings import Settings
    from tests.conftest import make_settings

    settings = make_settings(tmp_path / "data")
    env = up_environment(settings, {"KEEP": "1"})
    assert env["KEEP"] == "1" and env["STREAMSTACK_AUTO_MIGRATE"] == "false"
    assert env["STREAMSTACK_LIVE_HAND_OVER"] == "false", "the only ingest: no other to hand a session over to"
    drain = float(env["STREAMSTACK_LIVE_DRAIN_SECONDS"])
    assert drain == min(settings.live_drain_seconds, UP_INGEST_DRAIN_SECONDS)
    assert drain + 25 <= supervision.STOP_TIMEOUT_SECONDS  # closing the session and nginx fit in the rest
    assert Settings(live_drain_seconds=drain).live_drain_seconds == drain  # the child reads it back as it is
    shorter = up_environment(make_settings(tmp_path / "d2", live_drain_seconds=3.0), {})
    assert shorter["STREAMSTACK_LIVE_DRAIN_SECONDS"] == "3"
