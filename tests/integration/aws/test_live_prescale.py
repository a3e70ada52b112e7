"""Pre-scaling from the API against moto's Application Auto Scaling: a scheduled live stream's create,
move and cancel put and remove scheduled actions on the configured ECS services, sized by the capacity model."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from streamstack.autoscaling import DIMENSION, NAMESPACE, NoPrescale, ScheduledActionsPrescaler, open_prescaler
from streamstack.aws import client
from streamstack.live.capacity import tasks_for
from streamstack.live.prescale import ScheduledEvent, ServiceBounds, plan_steps
from tests.conftest import bearer, make_settings, new_api_key
from tests.integration.aws.conftest import unique

KICKOFF = "2026-12-06T19:30:00Z"


@pytest.fixture
def autoscaling(tmp_path: Path, moto_endpoint: str):  # type: ignore[no-untyped-def]
    """Two registered ECS services (edge: 2-20 tasks, api: 2-10) in moto, and the settings naming them."""
    cluster = unique("cluster")
    services = {
        "edge": {"resource_id": f"service/{cluster}/edge", "min_tasks": 2, "max_tasks": 20},
        "api": {"resource_id": f"service/{cluster}/api", "min_tasks": 2, "max_tasks": 10},
    }
    settings = make_settings(tmp_path / "aws", profile="aws", aws_endpoint_url=moto_endpoint,
                             aws_region="us-east-1", live_prescale_services=services)  # fmt: skip
    ecs = client("ecs", settings)
    ecs.create_cluster(clusterName=cluster)
    container = {"name": "app", "image": "x", "memory": 512}
    task = ecs.register_task_definition(family=unique("task"), containerDefinitions=[container])
    for name in services:
        ecs.create_service(cluster=cluster, serviceName=name, desiredCount=2,
                           taskDefinition=task["taskDefinition"]["taskDefinitionArn"])  # fmt: skip
    aas = client("application-autoscaling", settings)
    for spec in services.values():
        aas.register_scalable_target(ServiceNamespace=NAMESPACE, ResourceId=spec["resource_id"],
                                     ScalableDimension=DIMENSION, MinCapacity=spec["min_tasks"],
                                     MaxCapacity=spec["max_tasks"])  # fmt: skip
    return settings, aas, services


@pytest.fixture
def api(platform, autoscaling):  # type: ignore[no-untyped-def]
    """The API over an embedded catalog whose composition root was given the AWS scheduler."""
    from streamstack.api import create_app

    settings, _, _ = autoscaling
    platform.prescaler = ScheduledActionsPrescaler(settings)
    platform.settings = platform.settings.model_copy(update={"live_prescale_services": settings.live_prescale_services})
    return TestClient(create_app(platform), headers=bearer(new_api_key(platform)))


def actions(aas, resource_id: str) -> dict[str, tuple[int, int]]:  # type: ignore[no-untyped-def]
    """schedule -> (min, max) of the scheduled actions on one service."""
    found = aas.describe_scheduled_actions(ServiceNamespace=NAMESPACE, ResourceId=resource_id)["ScheduledActions"]
    return {a["Schedule"]: (a["ScalableTargetAction"]["MinCapacity"], a["ScalableTargetAction"]["MaxCapacity"])
            for a in found}  # fmt: skip


def test_a_scheduled_stream_scales_edge_and_api_out_ahead_of_kickoff_and_back_after(api, autoscaling) -> None:  # type: ignore[no-untyped-def]
    _, aas, services = autoscaling
    created = api.post("/v1/live-streams", json={"scheduled_start": KICKOFF, "expected_viewers": 200_000})
    assert created.status_code == 201, created.text
    assert created.json()["expected_viewers"] == 200_000
    assert created.json()["scheduled_start"] == "2026-12-06T19:30:00.000Z"
    edge = tasks_for("edge", 200_000)
    assert actions(aas, services["edge"]["resource_id"]) == {
        "at(2026-12-06T19:00:00)": (edge, edge),  # 30 min lead; max raised to the new minimum
        "at(2026-12-06T22:30:00)": (2, 20),  # 3 h hold, then the normal bounds
    }
    api_tasks = tasks_for("api", 200_000)
    assert actions(aas, services["api"]["resource_id"])["at(2026-12-06T19:00:00)"] == (api_tasks, api_tasks)


def test_overlapping_events_add_up_and_moving_one_moves_its_actions(api, autoscaling) -> None:  # type: ignore[no-untyped-def]
    _, aas, services = autoscaling
    first = api.post("/v1/live-streams", json={"scheduled_start": KICKOFF, "expected_viewers": 20_000}).json()
    api.post("/v1/live-streams", json={"scheduled_start": "2026-12-06T20:00:00Z", "expected_viewers": 10_000})
    edge = actions(aas, services["edge"]["resource_id"])
    # the tasks the events in progress need; the edge's maximum (20) raised to them when they need more
    first_only, both, second_only = ((tasks, max(tasks, 20)) for tasks in
                                     (tasks_for("edge", viewers) for viewers in (20_000, 30_000, 10_000)))  # fmt: skip
    assert edge["at(2026-12-06T19:00:00)"] == first_only
    assert edge["at(2026-12-06T19:30:00)"] == both  # both events: 30 000 viewers
    assert edge["at(2026-12-06T22:30:00)"] == second_only  # the first ended; the second still holds
    assert edge["at(2026-12-06T23:00:00)"] == (2, 20)
    moved = api.patch(f"/v1/live-streams/{first['id']}",
                      json={"scheduled_start": "2026-12-07T19:30:00Z", "expected_viewers": 20_000})  # fmt: skip
    assert moved.status_code == 200, moved.text
    edge = actions(aas, services["edge"]["resource_id"])
    assert "at(2026-12-06T19:00:00)" not in edge and edge["at(2026-12-07T19:00:00)"] == first_only


@pytest.mark.parametrize("cancel", ["delete", "disable", "unschedule"])
def test_cancelling_the_stream_removes_its_actions(api, autoscaling, cancel: str) -> None:  # type: ignore[no-untyped-def]
    _, aas, services = autoscaling
    stream = api.post("/v1/live-streams", json={"scheduled_start": KICKOFF, "expected_viewers": 50_000}).json()
    assert actions(aas, services["edge"]["resource_id"])
    if cancel == "delete":
        assert api.delete(f"/v1/live-streams/{stream['id']}").status_code == 204
    elif cancel == "disable":
        assert api.put(f"/v1/live-streams/{stream['id']}/disable").status_code == 200
    else:
        body = {"scheduled_start": None, "expected_viewers": None}
        assert api.patch(f"/v1/live-streams/{stream['id']}", json=body).status_code == 200
    for spec in services.values():
        assert actions(aas, spec["resource_id"]) == {}


def test_a_start_without_an_audience_is_a_precise_422(api) -> None:  # type: ignore[no-untyped-def]
    response = api.post("/v1/live-streams", json={"scheduled_start": KICKOFF})
    assert response.status_code == 422 and "expected_viewers" in response.text


def test_the_composition_root_picks_the_scheduler_by_shape(autoscaling, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    settings, _, _ = autoscaling
    assert isinstance(open_prescaler(settings), ScheduledActionsPrescaler)
    assert isinstance(open_prescaler(make_settings(tmp_path / "embedded")), NoPrescale)
    assert isinstance(open_prescaler(settings.model_copy(update={"live_prescale_services": {}})), NoPrescale)


def test_an_event_already_under_way_is_scaled_at_once(autoscaling) -> None:  # type: ignore[no-untyped-def]
    settings, aas, services = autoscaling
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    event = ScheduledEvent("ls_x", now + timedelta(minutes=10), 10_000)  # announced 10 min before, lead is 30
    steps = plan_steps([event], {"edge": ServiceBounds(2, 20)}, lead=timedelta(minutes=30), hold=timedelta(hours=3),
                       now=now)  # fmt: skip
    ScheduledActionsPrescaler(settings).apply(steps)
    assert actions(aas, services["edge"]["resource_id"]) == {
        "at(2026-12-06T12:01:00)": (tasks_for("edge", 10_000), 20),  # a minute from now
        "at(2026-12-06T15:10:00)": (2, 20),
    }
