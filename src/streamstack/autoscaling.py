"""Scheduled capacity changes (the port the live domain pre-scales through) and its adapters.

The aws adapter applies them as Application Auto Scaling scheduled actions on the ECS services.

Its actions are slots named `streamstack-live-{service}-{n}`: applying a plan puts its steps in slots 0..k-1
(a put replaces the action of that name) and deletes the slots the previous plan may have used beyond them,
so a cancelled event leaves nothing. Slots, not a listing, because DescribeScheduledActions can only be
granted on every resource, and Put/DeleteScheduledAction can be scoped to this account's scalable targets.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from streamstack.aws import client, error_code
from streamstack.settings import Settings

NAMESPACE = "ecs"
DIMENSION = "ecs:service:DesiredCount"
ACTION_PREFIX = "streamstack-live-"


@dataclass(frozen=True)
class CapacityStep:
    """From `at` on, `service` runs at least `min_tasks` and at most `max_tasks` tasks."""

    service: str
    at: datetime
    min_tasks: int
    max_tasks: int


class PrescaleScheduler(Protocol):
    def apply(self, steps: list[CapacityStep]) -> None:
        """Make the scheduled capacity changes of the configured services these steps (and only these)."""


class NoPrescale:
    """Embedded shape: one process serves every viewer; nothing to scale ahead of time."""

    def apply(self, steps: list[CapacityStep]) -> None:
        return None


class ScheduledActionsPrescaler:
    """Scheduled actions on the configured ECS services (settings.live_prescale_services)."""

    def __init__(self, settings: Settings):
        self.autoscaling_client = client("application-autoscaling", settings)
        self.resources = {name: str(spec["resource_id"]) for name, spec in settings.live_prescale_services.items()}

    def apply(self, steps: list[CapacityStep]) -> None:
        for service in self.resources:
            ours = sorted((s for s in steps if s.service == service), key=lambda s: s.at)
            for slot, step in enumerate(ours):
                self._put(slot, step)
            # A change adds or removes one event: at most two window edges, so two slots beyond the plan.
            for slot in range(len(ours), len(ours) + 2):
                self._delete(service, slot)

    def _name(self, service: str, slot: int) -> str:
        return f"{ACTION_PREFIX}{service}-{slot}"

    def _put(self, slot: int, step: CapacityStep) -> None:
        self.autoscaling_client.put_scheduled_action(
            ServiceNamespace=NAMESPACE,
            ScalableDimension=DIMENSION,
            ResourceId=self.resources[step.service],
            ScheduledActionName=self._name(step.service, slot),
            Schedule=f"at({step.at.astimezone(UTC):%Y-%m-%dT%H:%M:%S})",
            Timezone="Etc/UTC",
            ScalableTargetAction={"MinCapacity": step.min_tasks, "MaxCapacity": step.max_tasks},
        )

    def _delete(self, service: str, slot: int) -> None:
        try:
            self.autoscaling_client.delete_scheduled_action(
                ServiceNamespace=NAMESPACE, ScheduledActionName=self._name(service, slot),
                ResourceId=self.resources[service], ScalableDimension=DIMENSION,
            )  # fmt: skip
        except Exception as exc:
            if error_code(exc) != "ObjectNotFoundException":  # a slot the previous plan did not use
                raise


def open_prescaler(settings: Settings) -> PrescaleScheduler:
    """The aws shape with services to scale gets scheduled actions; otherwise nothing is scheduled."""
    if settings.profile != "aws" or not settings.live_prescale_services:
        return NoPrescale()
    return ScheduledActionsPrescaler(settings)
