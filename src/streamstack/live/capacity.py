"""Viewers -> tasks per service: the capacity model of docs/capacity.md, used to pre-scale for a scheduled event.

The edge's figure is derived from what `python -m loadtest` measured (docs/capacity.json, which the image does
not ship: the measured input is copied here, and tests/unit/test_capacity_figures.py checks it against the file,
against docs/capacity.md's table and against Terraform's `live_events` path).
"""

from __future__ import annotations

import math

# Measured: LL viewers one edge core carries when every viewer's requests reach it (docs/capacity.json,
# edge.ll.viewers_per_core = 1 / (CPU-seconds per request x the protocol's 4 requests a second)).
EDGE_LL_VIEWERS_PER_CORE = 1970
# Stated: the prod edge task (service_sizes.edge.cpu = 1024), run at 70% of it.
EDGE_VCPU_PER_TASK = 1.0
HEADROOM = 0.7


def edge_viewers_per_task() -> int:
    """Viewers per edge task when all their requests reach it (signed at the edge): the worst case, which
    tasks_for cannot tell apart; behind CloudFront's collapsing it leaves room to spare (docs/capacity.md)."""
    return math.floor(EDGE_LL_VIEWERS_PER_CORE * EDGE_VCPU_PER_TASK * HEADROOM)


# Concurrent viewers one task of each service carries (docs/capacity.md, "The capacity function").
VIEWERS_PER_TASK = {
    "edge": edge_viewers_per_task(),
    "api": 5_000,  # still assumed (the simulator's viewers ask no token): a token and status about once a minute
}
INGEST_TASKS_PER_STREAM = 1  # one live session per ingest task (A4)


def tasks_for(service: str, viewers: int, streams: int = 1) -> int:
    """Tasks `service` needs for `viewers` concurrent viewers of `streams` live streams (at least 1)."""
    if viewers < 0 or streams < 0:
        raise ValueError("viewers and streams must be non-negative")
    if service == "ingest":
        return max(1, streams * INGEST_TASKS_PER_STREAM)
    per_task = VIEWERS_PER_TASK.get(service)
    if per_task is None:
        raise ValueError(f"no capacity figure for service {service!r}")
    return max(1, math.ceil(viewers / per_task))
