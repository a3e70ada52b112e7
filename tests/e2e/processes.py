"""The process tree of a running `streamstack up`, read from /proc, to kill one part of it on purpose."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path


def children_of(pid: int) -> list[int]:
    """Direct children (Linux /proc)."""
    try:
        return [int(child) for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    except FileNotFoundError:
        return []


def descendants_of(pid: int) -> list[int]:
    found: list[int] = []
    for child in children_of(pid):
        found += [child, *descendants_of(child)]
    return found


def command_of(pid: int) -> list[str]:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
    except FileNotFoundError:
        return []


def child_named(up_pid: int, name: str) -> int | None:
    """The pid of `streamstack <name>` started by the supervisor, if it is running."""
    for child in children_of(up_pid):
        if command_of(child)[-2:] == ["streamstack", name]:
            return child
    return None


def kill_tree(pid: int) -> None:
    """SIGKILL a process and everything under it at once (a power cut, an OOM kill of the whole task)."""
    tree = [*descendants_of(pid), pid]
    for victim in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGSTOP)  # freeze first, so nobody reacts to a sibling's death
    for victim in tree:
        with contextlib.suppress(ProcessLookupError):
            os.kill(victim, signal.SIGKILL)
