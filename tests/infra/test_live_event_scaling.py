"""Evaluate the api_service module's real locals with `terraform console` (offline, no providers):
an announced live event pre-scales before kickoff, sized by the expected audience, and restores after."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

from streamstack.live.capacity import tasks_for
from tests.infra.hcl import MODULES_DIR
from tests.infra.terraform import terraform_binary

API = MODULES_DIR / "api_service"
REQUIRED = {
    "name": "prod-streamstack",
    "vpc_id": "vpc-1",
    "vpc_cidr_block": "10.0.0.0/16",
    "public_subnet_ids": ["subnet-a"],
    "private_subnet_ids": ["subnet-b"],
    "container_image": "image:tag",
    "acm_certificate_arn": "arn:aws:acm:example",
    "kms_key_arn": "arn:aws:kms:example",
}


def _locals_block(text: str) -> str:
    start = text.index("\nlocals {\n") + 1
    end = text.index("\n}\n", start) + 3
    return text[start:end]


def _evaluate(tmp_path: Path, expression: str, **variables: object) -> tuple[int, str, str]:
    terraform = terraform_binary()
    work = tmp_path / "module"
    work.mkdir()
    shutil.copy(API / "variables.tf", work / "variables.tf")
    (work / "locals.tf").write_text(_locals_block((API / "main.tf").read_text()))
    (work / "terraform.tfvars.json").write_text(json.dumps({**REQUIRED, **variables}))
    result = subprocess.run(
        [terraform, "console"], input=expression, cwd=work, capture_output=True, text=True, timeout=120
    )
    return result.returncode, result.stdout, result.stderr


def _actions(tmp_path: Path, **variables: object) -> dict[str, dict]:
    code, stdout, stderr = _evaluate(tmp_path, "jsonencode(local.live_event_actions)", **variables)
    assert code == 0, stderr
    return json.loads(json.loads(stdout.strip()))


def test_big_event_prescales_both_services_half_an_hour_before_kickoff(tmp_path: Path) -> None:
    event = {
        "name": "cup-final",
        "start_time": "2026-12-06T19:30:00Z",
        "expected_viewers": 200000,
        "duration_minutes": 180,
    }
    actions = _actions(tmp_path, live_events=[event])
    assert set(actions) == {"api-cup-final", "edge-cup-final"}
    api, edge = actions["api-cup-final"], actions["edge-cup-final"]
    assert api["prescale"] == edge["prescale"] == "2026-12-06T19:00:00"
    assert api["restore"] == edge["restore"] == "2026-12-06T22:30:00"
    assert api["min"] == tasks_for("api", 200_000)  # the API's pre-scaling sizes the same event alike
    assert edge["min"] == tasks_for("edge", 200_000)


def test_small_event_never_scales_below_the_normal_minimum(tmp_path: Path) -> None:
    event = {"name": "friendly", "start_time": "2026-12-01T00:10:00Z", "expected_viewers": 100, "duration_minutes": 90}
    actions = _actions(tmp_path, live_events=[event], live_event_lead_minutes=20, edge_enabled=False)
    assert set(actions) == {"api-friendly"}
    assert actions["api-friendly"]["prescale"] == "2026-11-30T23:50:00"
    assert actions["api-friendly"]["min"] == 2  # service_sizes.api.min_capacity


def test_a_start_time_that_is_not_rfc3339_is_rejected(tmp_path: Path) -> None:
    event = {"name": "bad", "start_time": "6 Dec 2026 19:30", "expected_viewers": 10, "duration_minutes": 90}
    code, stdout, stderr = _evaluate(tmp_path, "local.live_event_actions", live_events=[event])
    assert code != 0 and "RFC 3339" in stdout + stderr
