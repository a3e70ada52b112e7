"""The per-core figures a run measured, as docs/capacity.json: what `streamstack.live.capacity` sizes tasks by.

Written by `python -m loadtest --capacity-json docs/capacity.json`; the format is in docs/capacity.md
("The measured figures, for code"). Only the runs the command made appear (a mode or layout not run is absent).
"""

from __future__ import annotations

import os
import time
from typing import Any

from loadtest.spike import SpikeResult

SCHEMA = 1
FORMULA = "viewers_per_core = 60 / (cpu_s_per_viewer_minute * requests_per_viewer_second / measured_rate)"


def capacity_figures(results: list[SpikeResult], *, command: str, load_before: float, pinned: str) -> dict[str, Any]:
    """The edge per mode (one process), the two tiers' edge and shield, and nginx: per request, viewer, core."""
    figures: dict[str, Any] = {
        "schema": SCHEMA,
        "provisional": False,
        "source": {
            "command": command,
            "date": time.strftime("%Y-%m-%dT%H:%MZ", time.gmtime()),
            "cpus": os.cpu_count(),
            "load_before": round(load_before, 2),
            "pinning": pinned or "none",
        },  # fmt: skip
        "formula": FORMULA,
        "edge": {},
        "two_tiers": {},
    }
    for r in results:
        if r.layout == "edge":
            (edge,) = r.server_cpu
            figures["edge"][r.mode] = {**_server(r, edge), "requests_per_viewer_second": round(r.protocol_rate, 3),
                                       "measured_rate": round(r.requests_per_viewer_second, 3),
                                       "knee_viewers": r.knee_users or r.viewers_reached,
                                       "knee_is_lower_bound": r.knee_cause != "server",
                                       "knee_cause": r.knee_cause or "not reached",
                                       "generator_saturated": r.generator_saturated}  # fmt: skip
        elif r.layout == "two tiers":
            edge, shield = r.server_cpu
            figures["two_tiers"][r.mode] = {"edge": _server(r, edge), "shield": _server(r, shield),
                                            "knee_viewers": r.knee_users or r.viewers_reached,
                                            "knee_is_lower_bound": r.knee_cause != "server",
                                            "knee_cause": r.knee_cause or "not reached"}  # fmt: skip
        elif r.layout == "nginx":
            (nginx,) = r.server_cpu
            figures[f"nginx_{r.mode}"] = _server(r, nginx)
    return figures


def _server(result: SpikeResult, name: str) -> dict[str, float]:
    return {"cpu_ms_per_request": round(result.server_cpu_ms_per_request(name), 4),
            "cpu_s_per_viewer_minute": round(result.server_cpu_per_viewer_minute(name), 5),
            "viewers_per_core": round(result.viewers_per_core(name))}  # fmt: skip
