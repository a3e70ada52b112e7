"""Pre-scaling for scheduled live events: the plan of capacity changes, handed to the platform's scheduler.

The plan covers every scheduled stream at once: at each window edge (lead time before a start, or the
hold after it) each service's minimum becomes what the events live at that moment need together, so two
overlapping events add up and one event's restore never undoes another's scale-out.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from streamstack.autoscaling import CapacityStep, PrescaleScheduler
from streamstack.live.capacity import tasks_for
from streamstack.live.models import LiveStream
from streamstack.settings import Settings


@dataclass(frozen=True)
class ScheduledEvent:
    """A live stream announced with a start time and an expected audience."""

    live_stream_id: str
    start: datetime
    viewers: int


@dataclass(frozen=True)
class ServiceBounds:
    """A scalable service's normal task bounds (what target tracking works within outside events)."""

    min_tasks: int
    max_tasks: int


def plan_steps(
    events: list[ScheduledEvent],
    services: dict[str, ServiceBounds],
    *,
    lead: timedelta,
    hold: timedelta,
    now: datetime,
) -> list[CapacityStep]:
    """The future capacity changes per service: scale out `lead` before each start, back `hold` after it."""
    windows = [(e.start - lead, e.start + hold, e) for e in events]
    edges = sorted({t for begin, end, _ in windows for t in (begin, end) if end > now})
    steps: list[CapacityStep] = []
    soonest = now + timedelta(minutes=1)  # an edge already passed is applied as soon as a schedule can fire
    for service, bounds in services.items():
        previous = bounds.min_tasks
        for at in edges:
            live = [e for begin, end, e in windows if begin <= at < end]
            need = tasks_for(service, sum(e.viewers for e in live), len(live)) if live else 0
            wanted = max(bounds.min_tasks, need)
            if wanted != previous:
                steps.append(CapacityStep(service, max(at, soonest), wanted, max(wanted, bounds.max_tasks)))
            previous = wanted
    return steps


def scheduled_events(db_session: Session) -> list[ScheduledEvent]:
    """Every enabled stream announced with a start and an audience (past ones drop out of the plan)."""
    rows = db_session.scalars(
        select(LiveStream).where(
            LiveStream.scheduled_start.is_not(None),
            LiveStream.expected_viewers.is_not(None),
            LiveStream.status != "disabled",
        )
    )
    return [
        ScheduledEvent(row.id, _aware(row.scheduled_start), row.expected_viewers or 0)
        for row in rows
        if row.scheduled_start is not None
    ]


def reschedule(db_session: Session, scheduler: PrescaleScheduler, settings: Settings,
               now: datetime | None = None) -> None:
    """After a scheduled stream was created, changed, disabled or deleted: bring the schedule up to date."""
    services = {name: ServiceBounds(int(spec["min_tasks"]), int(spec["max_tasks"]))
                for name, spec in settings.live_prescale_services.items()}
    steps = plan_steps(scheduled_events(db_session), services, now=now or datetime.now(UTC),
                       lead=timedelta(seconds=settings.live_prescale_lead_seconds),
                       hold=timedelta(seconds=settings.live_prescale_hold_seconds))
    scheduler.apply(steps)


def _aware(value: datetime) -> datetime:
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
