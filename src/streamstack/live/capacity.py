"""Viewers -> tasks per service: the capacity model of docs/capacity.md, used to pre-scale for a scheduled event.

docs/capacity.md gives each figure's basis (the edge's from `python -m loadtest`): change them there and here.
"""

from __future__ import annotations

import math

# Concurrent viewers one task of each service carries (docs/capacity.md, "The capacity function").
VIEWERS_PER_TASK = {
    "edge": 2_000,  # behind CloudFront + Origin Shield the edge answers collapsed playlist reloads and parts
    "api": 5_000,  # viewers reach the API for playback tokens and status at most once a minute or so
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
