"""`streamstack up`'s supervisor: a child (API, worker, edge) that exits unexpectedly is restarted with backoff,
logged and counted, while the others keep serving; SIGTERM or Ctrl-C stops them all gracefully.

Each child runs in its own process group, so a crashed edge's leftover granian workers are killed with it
before it is restarted, and dies with SIGTERM if the supervisor itself is killed (Linux parent-death signal).
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from streamstack.observability import exposition, metrics

log = logging.getLogger("streamstack.supervisor")

INITIAL_BACKOFF_SECONDS = 0.5
MAX_BACKOFF_SECONDS = 30.0
STABLE_SECONDS = 60.0  # a child that ran this long before crashing restarts after the initial backoff again
POLL_SECONDS = 0.2
STOP_TIMEOUT_SECONDS = 40.0
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One supervised process and its restart bookkeeping."""

    name: str
    command: list[str]
    process: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    quick_crashes: int = 0
    restart_at: float | None = None
    restarts: int = 0


class Supervisor:
    """Starts the children, restarts the ones that die, and stops them all on request."""

    def __init__(self, commands: Mapping[str, list[str]], env: Mapping[str, str], *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.children = [Child(name, list(command)) for name, command in commands.items()]
        self.env = dict(env)
        self.clock = clock
        self.stopping = threading.Event()

    def run(self) -> None:
        """Supervise until stop() (a signal handler calls it), then stop every child."""
        for child in self.children:
            self.spawn(child)
        try:
            while not self.stopping.is_set():
                self.check()
                self.stopping.wait(POLL_SECONDS)
        finally:
            self.shutdown()

    def stop(self) -> None:
        self.stopping.set()

    def check(self) -> None:
        """Notice exits and start the restarts that are due."""
        now = self.clock()
        for child in self.children:
            if child.process is not None and child.process.poll() is not None:
                self.on_exit(child, now)
            if child.restart_at is not None and now >= child.restart_at:
                child.restart_at = None
                child.restarts += 1
                metrics.record("streamstack_process_restarts_total", process=child.name)
                self.spawn(child)

    def on_exit(self, child: Child, now: float) -> None:
        """Log the exit, clean up the child's process group, and schedule a restart with backoff."""
        process = child.process
        assert process is not None
        child.process = None
        kill_group(process.pid)
        exposition.mark_process_dead(process.pid)
        ran = now - child.started_at
        child.quick_crashes = 0 if ran >= STABLE_SECONDS else child.quick_crashes + 1
        delay = min(MAX_BACKOFF_SECONDS, INITIAL_BACKOFF_SECONDS * 2 ** max(child.quick_crashes - 1, 0))
        child.restart_at = now + delay
        log.warning("%s exited (%s) after %.1f s; restarting in %.1f s", child.name, describe(process.returncode),
                    ran, delay, extra={"child": child.name, "exit_code": process.returncode,
                                       "restart_in_seconds": delay, "restarts": child.restarts})

    def spawn(self, child: Child) -> None:
        child.process = subprocess.Popen(child.command, env=self.env, process_group=0, preexec_fn=die_with_parent)
        child.started_at = self.clock()
        log.info("%s started (pid %s)", child.name, child.process.pid,
                 extra={"child": child.name, "pid": child.process.pid})

    def shutdown(self) -> None:
        """SIGTERM to every child (they drain), SIGKILL to what is left of them after STOP_TIMEOUT_SECONDS."""
        running = [child.process for child in self.children if child.process is not None]
        for process in running:
            process.send_signal(signal.SIGTERM)  # the child alone: granian stops its own workers, draining
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                log.warning("a child did not stop in time; killing it", extra={"pid": process.pid})
            kill_group(process.pid)
            process.wait()


def kill_group(pgid: int) -> None:
    """SIGKILL what is left of a child's process group (an edge's granian workers outlive their parent)."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signal.SIGKILL)


def die_with_parent() -> None:
    """In the child before exec: get SIGTERM when the supervisor dies, so no child outlives `up`."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def describe(returncode: int) -> str:
    if returncode < 0:
        return f"killed by {signal.Signals(-returncode).name}"
    return f"exit code {returncode}"
