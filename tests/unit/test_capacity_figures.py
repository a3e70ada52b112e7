"""One source of truth for the capacity model: the figure the code sizes edge tasks by is the one the load test
measured (docs/capacity.json), docs/capacity.md states it with its derivation, and Terraform's `live_events`
path uses the same figures. When a run writes new figures, this test names what to update."""

from __future__ import annotations

import json
import re
from pathlib import Path

from streamstack.live import capacity
from tests.infra.hcl import ENVIRONMENTS_DIR, MODULES_DIR, load, load_dir

REPO = Path(__file__).resolve().parents[2]
MEASURED = json.loads((REPO / "docs" / "capacity.json").read_text())
DOC = (REPO / "docs" / "capacity.md").read_text()
FARGATE_CPU_UNITS_PER_VCPU = 1024


def _spaced(number: int) -> str:
    """How docs/capacity.md writes a number: 2 256, 200 000."""
    return f"{number:,}".replace(",", " ")


def _table_row(label: str) -> str:
    row = next((line for line in DOC.splitlines() if line.startswith(f"| {label} |")), None)
    assert row is not None, f"docs/capacity.md has no '{label}' row in its capacity function table"
    return row


def test_the_edge_figure_is_the_measured_one() -> None:
    measured = MEASURED["edge"]["ll"]
    assert measured["viewers_per_core"] == capacity.EDGE_LL_VIEWERS_PER_CORE, (
        "docs/capacity.json has new figures: set EDGE_LL_VIEWERS_PER_CORE in streamstack/live/capacity.py to "
        f"{measured['viewers_per_core']}, then the row below, Terraform's viewers_per_edge_task and the example"
    )
    assert measured["requests_per_viewer_second"] == 4.0, "the figure is for LL viewers at the protocol's rate"


def test_the_edge_task_size_the_figure_assumes_is_prods() -> None:
    sizes = load(ENVIRONMENTS_DIR / "prod" / "terraform.tfvars")["service_sizes"]
    assert sizes["edge"]["cpu"] == capacity.EDGE_VCPU_PER_TASK * FARGATE_CPU_UNITS_PER_VCPU


def test_docs_state_the_figures_and_their_derivation() -> None:
    edge = _table_row("viewers per edge task")
    per_task = capacity.VIEWERS_PER_TASK["edge"]
    assert edge.startswith(f"| viewers per edge task | {_spaced(per_task)} |"), edge[:80]
    per_core = capacity.EDGE_LL_VIEWERS_PER_CORE
    for stated in (
        f"{_spaced(per_core)} LL viewers per edge core",
        f"{capacity.EDGE_VCPU_PER_TASK:g} vCPU per task",
        f"{capacity.HEADROOM:.0%} headroom",
        "docs/capacity.json, `edge.ll.viewers_per_core`",
    ):
        assert stated in edge, f"docs/capacity.md's edge row should state: {stated}"
    api = _table_row("viewers per api task")
    assert api.startswith(f"| viewers per api task | {_spaced(capacity.VIEWERS_PER_TASK['api'])} |"), api[:80]
    example = re.search(r"Example: ([\d ]+) expected viewers → (\d+) edge tasks and (\d+) api tasks", DOC)
    assert example, "docs/capacity.md's example line"
    viewers = int(example.group(1).replace(" ", ""))
    assert (int(example.group(2)), int(example.group(3))) == (capacity.tasks_for("edge", viewers),
                                                              capacity.tasks_for("api", viewers))  # fmt: skip


def test_terraform_live_events_size_with_the_same_figures() -> None:
    deploy = (REPO / "docs" / "deploy.md").read_text()
    stated = f"{_spaced(capacity.VIEWERS_PER_TASK['api'])} viewers per api task and " + _spaced(
        capacity.VIEWERS_PER_TASK["edge"]
    )
    assert stated in " ".join(deploy.split()), f"docs/deploy.md's live_events section should say: {stated}"
    defaults = {name: body["default"] for block in load_dir(MODULES_DIR / "api_service")["variable"]
                for name, body in block.items() if name.startswith("viewers_per_")}  # fmt: skip
    assert defaults == {"viewers_per_edge_task": capacity.VIEWERS_PER_TASK["edge"],
                        "viewers_per_api_task": capacity.VIEWERS_PER_TASK["api"]}  # fmt: skip
