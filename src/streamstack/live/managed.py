"""Managed live streams (live_encoder = "medialive"): the catalog side of media/managed_live.py.

The API provisions a stream's channel when it is created (live/provisioning.py) and starts or stops it on
enable, disable and complete; deleting the stream removes the channel. MediaLive's and MediaPackage v2's
EventBridge events come back through the events queue and make the same transitions (and `video.live_stream.*`
/ `video.asset.*` webhooks) the ffmpeg ingest makes. A worker tick stops the channel of a session whose
publisher has been gone past the reconnect window, or that reached its duration limit:

| event | transition |
|---|---|
| Channel Alert, an input-loss alert CLEARED | a publisher pushes: connected, recording (a new session), active |
| Channel Alert, an input-loss alert SET | the publisher left: disconnected (the reconnect window starts) |
| Channel State Change STOPPED / IDLE | session ends: idle, recording harvested, channel restarted unless disabled |
| HarvestJob Notification COMPLETED | the recording is ready: live_stream_completed, ready |
| HarvestJob Notification FAILED / CANCELLED | the recording is errored, with MediaPackage's reason |

The events' shapes are the ones AWS documents (the pages are named in media/medialive.py): MediaLive's
`detail.channel_arn` / `state` / `alert_type` / `alarm_state`, MediaPackage v2's `detail.harvestJob`
(`harvestJobName`, `status`, `message`). Each event is idempotent: a duplicate finds the transition made and
changes nothing.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from streamstack.assets import service as assets
from streamstack.db.base import utcnow
from streamstack.db.session import session_scope
from streamstack.live import service, simulcast
from streamstack.live.models import LiveStream, SimulcastTarget
from streamstack.media.managed_live import ManagedChannel, ManagedLive
from streamstack.media.medialive import (
    CHANNEL_ALERT,
    CHANNEL_STATE_CHANGE,
    CHANNEL_STOPPED_STATES,
    HARVEST_FAILED_STATUSES,
    INPUT_LOSS_ALERTS,
    SimulcastDestination,
)
from streamstack.platform import Platform

log = logging.getLogger("streamstack.live.managed")


def channel_of(stream: LiveStream) -> ManagedChannel | None:
    return ManagedChannel.from_json(stream.managed) if stream.managed else None


def simulcast_of(db_session: Session, stream: LiveStream) -> list[SimulcastDestination]:
    """The stream's simulcast targets as the RTMP destinations its channel pushes to."""
    return destinations(simulcast.targets_of(db_session, stream.id))


def destinations(targets: Sequence[SimulcastTarget]) -> list[SimulcastDestination]:
    return [SimulcastDestination.of(t.id, t.url, t.stream_key) for t in targets]


def set_running(*, managed: ManagedLive, stream: LiveStream, running: bool) -> None:
    """enable starts the channel; disable and complete stop it (its state change ends the session)."""
    if (channel := channel_of(stream)) is not None:
        (managed.start if running else managed.stop)(channel)


def rekey(*, managed: ManagedLive, stream: LiveStream) -> None:
    """After reset-stream-key: the input accepts the new key only."""
    if (channel := channel_of(stream)) is not None:
        managed.rekey(channel, stream.stream_key)


def retarget(*, managed: ManagedLive, db_session: Session, stream: LiveStream) -> None:
    """After a simulcast target is added or removed: the channel pushes to the stream's targets as they are now."""
    if (channel := channel_of(stream)) is not None:
        managed.retarget(live_stream_id=stream.id, channel=channel, low_latency=stream.latency_mode == "low",
                         simulcast=simulcast_of(db_session, stream))


def deprovision(*, managed: ManagedLive, stream: LiveStream) -> None:
    channel = channel_of(stream)
    managed.delete(live_stream_id=stream.id, input_id=channel.input_id if channel else None,
                   channel_id=channel.channel_id if channel else None)  # fmt: skip


def end_due_sessions(platform: Platform, now: datetime | None = None) -> int:
    """A worker tick: stop the channel of each managed session past its reconnect window or its duration limit.

    The channel's state change then ends the session as `complete` does; end_requested marks the stop as
    asked for, so the next ticks leave it alone (a failed stop is retried on the next tick)."""
    if platform.managed_live is None:
        return 0
    stopped = 0
    with session_scope(platform.sessions) as db_session:
        for stream in service.sessions_to_end(db_session=db_session, now=now):
            if stream.managed and not stream.end_requested:
                set_running(managed=platform.managed_live, stream=stream, running=False)
                stream.end_requested = True
                db_session.commit()
                stopped += 1
    return stopped


# --- events ------------------------------------------------------------------------------------------


def apply_medialive_event(platform: Platform, event: dict[str, Any]) -> None:
    """A MediaLive Channel Alert or State Change; one for a channel we do not know is logged and acknowledged."""
    detail = event.get("detail") or {}
    arn = detail.get("channel_arn") or next(iter(event.get("resources") or []), None)
    with session_scope(platform.sessions) as db_session:
        stream = _stream_of_channel(db_session, str(arn))
        if stream is None:
            log.info("MediaLive event for a channel of no live stream", extra={"channel_arn": arn})
            return
        at = _event_time(event)
        alarm_state = str(detail.get("alarm_state") or "").upper()
        if event.get("detail-type") == CHANNEL_ALERT and detail.get("alert_type") in INPUT_LOSS_ALERTS:
            if alarm_state == "CLEARED":
                _publisher_arrived(db_session, stream, platform, at)
            elif alarm_state == "SET":
                service.publish_ended(db_session=db_session, live_stream_id=stream.id, settings=platform.settings,
                                      now=at)  # fmt: skip
        elif event.get("detail-type") == CHANNEL_STATE_CHANGE and detail.get("state") in CHANNEL_STOPPED_STATES:
            _channel_stopped(db_session, stream, platform, at)
        else:
            log.info("MediaLive event without a transition", extra={
                "live_stream_id": stream.id, "detail_type": event.get("detail-type"),
                "state": detail.get("state"), "alert_type": detail.get("alert_type")})  # fmt: skip


def apply_harvest_event(platform: Platform, event: dict[str, Any]) -> None:
    """A harvest job ended: its recording asset (the job is named after it) is ready, or errored with the reason."""
    job = (event.get("detail") or {}).get("harvestJob") or {}
    status, asset_id = str(job.get("status") or "").upper(), job.get("harvestJobName")
    with session_scope(platform.sessions) as db_session:
        asset = assets.get_asset(db_session=db_session, asset_id=str(asset_id)) if asset_id else None
        if asset is None or asset.status != "preparing":
            log.info("harvest notification for no recording in progress", extra={"asset_id": asset_id,
                                                                                  "status": status})  # fmt: skip
            return
        if status == "COMPLETED":
            service.mark_recording_ready(db_session=db_session, asset=asset, settings=platform.settings)
        elif status in HARVEST_FAILED_STATUSES:
            reason = job.get("message") or status.lower()
            assets.mark_errored(db_session=db_session, asset=asset, reason=f"harvest job {status.lower()}: {reason}",
                                edge_base_url=platform.settings.edge_base_url)  # fmt: skip
        db_session.commit()


def _publisher_arrived(db_session: Session, stream: LiveStream, platform: Platform, at: datetime) -> None:
    try:
        service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=platform.settings,
                                  now=at)  # fmt: skip
    except service.PublishRefused as exc:  # already connected (a duplicate), or disabled meanwhile
        db_session.rollback()
        log.info("input-loss alert cleared without a new publisher", extra={"live_stream_id": stream.id,
                                                                            "reason": str(exc)})  # fmt: skip


def _channel_stopped(db_session: Session, stream: LiveStream, platform: Platform, at: datetime) -> None:
    """The session (if any) ends and its recording is harvested; an enabled stream's channel runs again."""
    if stream.session_started_at is not None:
        started = _aware(stream.session_started_at)
        asset_id = stream.active_asset_id
        if asset_id is not None and platform.managed_live is not None and at > started:
            platform.managed_live.harvest(live_stream_id=stream.id, asset_id=asset_id, start=started, end=at)
        service.complete_session(db_session=db_session, stream=stream, settings=platform.settings,
                                 duration=(at - started).total_seconds(), recording_ready=False)  # fmt: skip
    if stream.status != "disabled" and platform.managed_live is not None:
        set_running(managed=platform.managed_live, stream=stream, running=True)


def _stream_of_channel(db_session: Session, channel_arn: str) -> LiveStream | None:
    rows = db_session.scalars(select(LiveStream).where(LiveStream.managed.is_not(None)))
    return next((s for s in rows if (s.managed or {}).get("channel_arn") == channel_arn), None)


def _event_time(event: dict[str, Any]) -> datetime:
    try:
        return datetime.fromisoformat(str(event["time"]).replace("Z", "+00:00"))
    except (KeyError, ValueError):
        return utcnow()


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
