"""Simulcast targets (Mux's model): RTMP(S) destinations a live stream is restreamed to while it is live.

The API keeps the targets; the ingest process restreams (live/restream.py) and reports each target's
state here. Every state change records its `video.live_stream.simulcast_target.*` event in the
same transaction, so webhooks are delivered like every other event.
"""

from __future__ import annotations

import re

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from streamstack.db.base import new_id
from streamstack.live.models import (
    MAX_SIMULCAST_TARGETS,
    LiveStream,
    SimulcastTarget,
    SimulcastTargetCreate,
    SimulcastTargetOut,
)
from streamstack.outbound import SIMULCAST, UrlRefused, check_url
from streamstack.settings import Settings
from streamstack.webhooks.outbox import record_event

EVENT_PREFIX = "video.live_stream.simulcast_target."
SHOWN_KEY_CHARACTERS = 4
REDACTED = "***"
PRINTABLE = re.compile(r"[!-~]+")


class TooManyTargets(ValueError):
    """A live stream has MAX_SIMULCAST_TARGETS already (each one is a process and upload bandwidth)."""


def check_target_url(url: str, settings: Settings, *, must_resolve: bool = False) -> None:
    """rtmp:// or rtmps:// only, to public addresses unless simulcast_allow_private (raises UrlRefused).

    At creation a host that does not resolve yet is accepted; each start checks again and errors then.
    """
    if not PRINTABLE.fullmatch(url):
        raise UrlRefused("simulcast target URL must be printable ASCII without spaces (punycode for IDN hosts)")
    check_url(url, settings, must_resolve=must_resolve, purpose=SIMULCAST,
              allow_private=settings.simulcast_allow_private)  # fmt: skip


def add_target(*, db_session: Session, stream: LiveStream, body: SimulcastTargetCreate) -> SimulcastTarget:
    """A new target, idle until the stream is live (the ingest starts it within a supervision tick if it is)."""
    count = db_session.scalar(select(func.count()).select_from(SimulcastTarget)
                              .where(SimulcastTarget.live_stream_id == stream.id)) or 0  # fmt: skip
    if count >= MAX_SIMULCAST_TARGETS:
        raise TooManyTargets(f"live stream {stream.id!r} has {count} simulcast targets already (at most "
                             f"{MAX_SIMULCAST_TARGETS})")
    target = new_target(stream.id, body)
    insert_target(db_session, target)
    return target


def new_target(live_stream_id: str, body: SimulcastTargetCreate) -> SimulcastTarget:
    """The target's row, not yet added (a managed stream's channel is made with its id before the stream is)."""
    return SimulcastTarget(id=new_id("st_"), live_stream_id=live_stream_id, url=body.url.strip(),
                           stream_key=body.stream_key, passthrough=body.passthrough, status="idle")  # fmt: skip


def insert_target(db_session: Session, target: SimulcastTarget) -> None:
    db_session.add(target)
    db_session.flush()
    _record(db_session, target, "created")


def targets_of(db_session: Session, live_stream_id: str) -> list[SimulcastTarget]:
    return list(db_session.scalars(select(SimulcastTarget).where(SimulcastTarget.live_stream_id == live_stream_id)
                                   .order_by(SimulcastTarget.id)))  # fmt: skip


def get_target(db_session: Session, live_stream_id: str, target_id: str) -> SimulcastTarget | None:
    target = db_session.get(SimulcastTarget, target_id)
    return target if target is not None and target.live_stream_id == live_stream_id else None


def delete_target(db_session: Session, target: SimulcastTarget) -> None:
    """The ingest stops its restream at its next supervision tick."""
    _record(db_session, target, "deleted")
    db_session.delete(target)


def set_status(db_session: Session, target_id: str, status: str, error: str | None = None) -> bool:
    """Record a state the restreamer reached (and its event, once per change); False if the target is gone."""
    target = db_session.get(SimulcastTarget, target_id)
    if target is None:
        return False
    if target.status != status or (status == "errored" and target.error != error):
        target.status = status
        target.error = error if status == "errored" else None
        _record(db_session, target, status)
    db_session.commit()
    return True


def redact(text: str, target: SimulcastTarget) -> str:
    """ffmpeg names the output URL in its errors; the key must not reach the API, events or logs."""
    return text.replace(target.stream_key, REDACTED) if target.stream_key else text


def masked_key(key: str | None) -> str | None:
    """Enough of the key for a reader to tell targets apart, never enough to publish with."""
    if key is None:
        return None
    return REDACTED + key[-SHOWN_KEY_CHARACTERS:] if len(key) > 2 * SHOWN_KEY_CHARACTERS else REDACTED


def target_to_out(target: SimulcastTarget, *, show_key: bool) -> SimulcastTargetOut:
    return SimulcastTargetOut(
        id=target.id, live_stream_id=target.live_stream_id, status=target.status,  # type: ignore[arg-type]
        url=target.url, stream_key=target.stream_key if show_key else masked_key(target.stream_key),
        passthrough=target.passthrough, error=target.error, created_at=target.created_at,
    )  # fmt: skip


def _record(db_session: Session, target: SimulcastTarget, event: str) -> None:
    record_event(db_session=db_session, type=EVENT_PREFIX + event, object_type="simulcast_target",
                 object_id=target.id, data=target_to_out(target, show_key=False).model_dump(mode="json"))
