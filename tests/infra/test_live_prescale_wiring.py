"""The api task gets the services it pre-scales for scheduled live streams, named as the scalable targets are."""

from __future__ import annotations

import json
from pathlib import Path

from tests.infra.hcl import MODULES_DIR, resource
from tests.infra.test_live_event_scaling import _evaluate

API = MODULES_DIR / "api_service"


def test_prescale_services_name_the_scalable_targets_and_parse_as_settings(tmp_path: Path) -> None:
    from streamstack.settings import Settings

    code, stdout, stderr = _evaluate(tmp_path, 'local.container_defaults["STREAMSTACK_LIVE_PRESCALE_SERVICES"]')
    assert code == 0, stderr
    value = json.loads(json.loads(stdout.strip()))
    assert value["edge"]["resource_id"] == "service/prod-streamstack/prod-streamstack-edge"
    assert value["edge"]["max_tasks"] >= value["edge"]["min_tasks"] >= 1
    assert set(value) == {"api", "edge"} and value["api"]["min_tasks"] == 2
    # the same naming as the scalable targets and services the module creates
    target = resource(API, "aws_appautoscaling_target", "web")
    assert target["resource_id"] == "service/${aws_ecs_cluster.this.name}/${aws_ecs_service.this[each.key].name}"
    assert resource(API, "aws_ecs_cluster", "this")["name"] == "${var.name}"
    assert resource(API, "aws_ecs_service", "this")["name"] == "${var.name}-${each.key}"
    assert Settings(live_prescale_services=value).live_prescale_services == value
