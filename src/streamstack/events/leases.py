"""The messages a worker holds, written down under a lock, so the next worker on the host gives a dead one's back.

A worker killed mid-job leaves its message invisible until the visibility timeout; a restarted worker (the
supervisor of `up`, an ECS task on the same host) finds the lease whose lock is free and makes the message
visible at once, so the job is redelivered in seconds. A stale receipt handle changes nothing, as in SQS.
"""

from __future__ import annotations

import contextlib
import json
import logging
import uuid
from collections.abc import Iterator, Mapping
from pathlib import Path

from streamstack.process_locks import PENDING_SUFFIX, HeldLock, owner_is_gone
from streamstack.queue.base import Message, Queue

log = logging.getLogger("streamstack.worker")

LEASE_SUFFIX = ".lease"


@contextlib.contextmanager
def lease(directory: Path, queue: Queue, messages: list[Message]) -> Iterator[None]:
    """Hold a lease on `messages` while the block runs; it is gone once they are settled."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{uuid.uuid4().hex}{LEASE_SUFFIX}"
    content = json.dumps({"queue": queue.name, "receipt_handles": [m.receipt_handle for m in messages]})
    lock = HeldLock(path, content.encode())
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        lock.release()


def release_abandoned(directory: Path, queues: Mapping[str, Queue]) -> int:
    """Make the messages of dead workers' leases visible now; returns how many messages were given back."""
    released = 0
    for path in sorted(directory.glob(f"*{LEASE_SUFFIX}*")):
        if not owner_is_gone(path):
            continue
        if not path.name.endswith(PENDING_SUFFIX):
            released += _give_back(path, queues)
        path.unlink(missing_ok=True)
    return released


def _give_back(path: Path, queues: Mapping[str, Queue]) -> int:
    """One abandoned lease's messages, made visible on the queue it names."""
    try:
        held = json.loads(path.read_text())
        queue = queues[held["queue"]]
        handles = list(held["receipt_handles"])
    except (OSError, ValueError, KeyError, TypeError):
        log.warning("unreadable lease dropped", extra={"lease": path.name})
        return 0
    for handle in handles:
        queue.change_visibility(handle, 0)
    log.info("gave back the messages of a dead worker", extra={"queue": queue.name, "messages": len(handles)})
    return len(handles)
