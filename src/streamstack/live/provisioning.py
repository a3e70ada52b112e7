"""A managed stream's create, safe against a death half-way (live_encoder = "medialive").

Creating a managed stream makes AWS resources before the stream's row commits: the MediaPackage v2 channel and
endpoint (named after the stream) and the MediaLive input and channel (known only by the ids MediaLive answers
with, and tagged). An API process that dies, or a commit that fails, in between would leave them behind with
nothing that names them, and ListInputs/ListChannels are not granted (they take only "*"). So:

1. the intent is committed first, in its own transaction: a `managed_provisionings` row keyed by the stream's id;
2. each MediaLive id is committed to that row as soon as MediaLive answers, before the next request;
3. the stream's commit deletes the row in the same transaction: while AWS may hold a stream's resources, either
   the stream or its row exists;
4. a create AWS refuses deletes what its row names at once (`undo`), and the row with it;
5. a worker tick (`sweep_abandoned`) takes over rows older than `managed_live_abandon_seconds` (longer than any
   create runs) whose stream does not exist, and (once a minute) the rows it took over before: it marks the row,
   deletes what it names (channel, input, endpoint, MediaPackage channel; a part already gone, or never made,
   answers not found), then drops it. A failure is logged and retried on the next tick. A create still running
   past that age fails at its commit (its row is abandoned) instead of keeping a stream whose channel is deleted.

What this cannot see: a process that dies in the moment between MediaLive's answer to CreateInput or CreateChannel
and the commit of its id. MediaLive's RequestId (derived from the stream) would answer a repeated create with the
same resource only within an idempotency window that AWS does not document, so nothing here relies on it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session, sessionmaker

from streamstack.aws import error_code
from streamstack.db.base import utcnow
from streamstack.db.session import session_scope
from streamstack.live.managed import destinations
from streamstack.live.models import TEST_STREAM_SECONDS, LiveStream, ManagedProvisioning, SimulcastTarget
from streamstack.media.managed_live import ManagedChannel, ManagedLive
from streamstack.platform import Platform
from streamstack.timestamps import as_utc

log = logging.getLogger("streamstack.live.provisioning")
RETRY_SECONDS = 60  # an abandoned create whose undo failed is tried again this long after (the tick runs each second)


class ProvisioningAbandoned(RuntimeError):
    """The sweep took this create's record over (it ran past managed_live_abandon_seconds): its resources go."""


def provision(*, managed: ManagedLive, sessions: sessionmaker[Session], stream: LiveStream,
              targets: Sequence[SimulcastTarget]) -> ManagedChannel:  # fmt: skip
    """Create the stream's channel (its simulcast targets included) and start it, so a publisher can push.

    `stream` and `targets` are rows not added yet (service.new_live_stream): the caller's session holds no write
    lock while the record commits on its own. On any failure the record stays, for `undo` or the sweep."""
    _begin(sessions, stream.id)
    channel = managed.create(live_stream_id=stream.id, stream_key=stream.stream_key,
                             low_latency=stream.latency_mode == "low",
                             session_seconds=TEST_STREAM_SECONDS if stream.test else stream.max_continuous_duration,
                             simulcast=destinations(targets),
                             record=partial(_record, sessions, stream.id))  # fmt: skip
    managed.start(channel)
    return channel


def finish(db_session: Session, live_stream_id: str) -> None:
    """In the stream's own transaction: its resources are the stream's from this commit on."""
    done = db_session.execute(delete(ManagedProvisioning).where(
        ManagedProvisioning.live_stream_id == live_stream_id, ManagedProvisioning.abandoned_at.is_(None)))
    if done.rowcount != 1:  # type: ignore[attr-defined]
        raise ProvisioningAbandoned(f"live stream {live_stream_id!r}: the create ran past its time and its "
                                    "resources are being deleted")  # fmt: skip


def undo(*, managed: ManagedLive, sessions: sessionmaker[Session], live_stream_id: str) -> None:
    """Delete what the record names, then the record; a refused delete raises and the record stays."""
    with sessions() as db_session:
        row = db_session.get(ManagedProvisioning, live_stream_id)
        if row is None:
            return
        input_id, channel_id = row.input_id, row.channel_id
    managed.delete(live_stream_id=live_stream_id, input_id=input_id, channel_id=channel_id)
    with session_scope(sessions) as db_session:
        db_session.execute(delete(ManagedProvisioning).where(ManagedProvisioning.live_stream_id == live_stream_id))


def sweep_abandoned(platform: Platform, now: datetime | None = None) -> int:
    """A worker tick: delete the resources of creates that never committed their stream; how many were undone."""
    if platform.managed_live is None:
        return 0
    now = now or utcnow()
    cutoff = now - timedelta(seconds=platform.settings.managed_live_abandon_seconds)
    with platform.sessions() as db_session:
        rows = db_session.scalars(select(ManagedProvisioning).order_by(ManagedProvisioning.created_at)).all()
        due = [r.live_stream_id for r in rows if _due(r, cutoff, now)]
    undone = 0
    for live_stream_id in due:
        if not _abandon(platform.sessions, live_stream_id, now):
            continue
        try:
            undo(managed=platform.managed_live, sessions=platform.sessions, live_stream_id=live_stream_id)
        except Exception as exc:  # the next tick tries again
            log.warning("abandoned managed live create not undone yet", extra={
                "live_stream_id": live_stream_id, "code": error_code(exc), "error": str(exc)})  # fmt: skip
            continue
        log.info("abandoned managed live create undone", extra={"live_stream_id": live_stream_id})
        undone += 1
    return undone


def _due(row: ManagedProvisioning, cutoff: datetime, now: datetime) -> bool:
    if row.abandoned_at is None:
        return as_utc(row.created_at) < cutoff
    return as_utc(row.updated_at) < now - timedelta(seconds=RETRY_SECONDS)  # _abandon touched it at each try


def _begin(sessions: sessionmaker[Session], live_stream_id: str) -> None:
    with session_scope(sessions) as db_session:
        db_session.add(ManagedProvisioning(live_stream_id=live_stream_id))


def _record(sessions: sessionmaker[Session], live_stream_id: str, **ids: Any) -> None:
    """MediaLive's answer, committed before anything else is asked of it."""
    with session_scope(sessions) as db_session:
        db_session.execute(update(ManagedProvisioning)
                           .where(ManagedProvisioning.live_stream_id == live_stream_id).values(**ids))  # fmt: skip


def _abandon(sessions: sessionmaker[Session], live_stream_id: str, now: datetime) -> bool:
    """Take the row over, unless its stream committed (then its resources are the stream's, and stay)."""
    with session_scope(sessions) as db_session:
        if db_session.get(LiveStream, live_stream_id) is not None:
            db_session.execute(delete(ManagedProvisioning).where(ManagedProvisioning.live_stream_id == live_stream_id))
            return False
        first = func.coalesce(ManagedProvisioning.abandoned_at, now)
        taken = db_session.execute(update(ManagedProvisioning)
                                   .where(ManagedProvisioning.live_stream_id == live_stream_id)
                                   .values(abandoned_at=first, updated_at=now))  # fmt: skip
        return bool(taken.rowcount == 1)  # type: ignore[attr-defined]  # 0: the stream's commit took it first
