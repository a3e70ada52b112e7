"""Live stream lifecycle: create, read, list, disable/enable, reset the key; publish, disconnect, complete.

A session is recorded as an asset when the stream has `new_asset_settings` (otherwise nothing is kept
beyond the DVR window). A publisher that returns within `reconnect_window` continues the session; after
the window (or `complete`), the stream goes idle and the recording is ready. Every transition
records its `video.live_stream.*` event in the same transaction.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from streamstack.assets import service as assets
from streamstack.assets.models import Asset, NewAssetSettings, PlaybackId, PlaybackIdOut
from streamstack.db.base import new_id, utcnow
from streamstack.db.pagination import decode_cursor, page
from streamstack.live import simulcast
from streamstack.live.models import (
    TEST_STREAM_SECONDS,
    LiveStream,
    LiveStreamCreate,
    LiveStreamOut,
    LiveStreamSchedule,
    PublishRefusal,
    SimulcastTarget,
)
from streamstack.media.medialive import ManagedLiveNames
from streamstack.settings import Settings
from streamstack.storage.keys import asset_prefix, live_session_prefix
from streamstack.webhooks.outbox import record_event

STREAM_KEY_BYTES = 24
RTMP_APPLICATION = "live"
LEASE_HEARTBEAT_SECONDS = 2.0  # how often an ingest of several says it still holds its publishers
INGEST_LEASE_SECONDS = 10.0  # past this without a heartbeat, the ingest is taken for dead (killed)


class PublishRefused(PermissionError):
    """The ingest must refuse this publisher (wrong, disabled or busy key); the reason is safe to log."""

    def __init__(self, message: str, *, busy: bool = False) -> None:
        super().__init__(message)
        self.busy = busy  # the key is right but already live (SRT answers "conflict", not "forbidden")


@dataclass(frozen=True)
class PublishGrant:
    """What the ingest needs to run a session: where its objects go, its recording (if any), whether it continues."""

    live_stream_id: str
    asset_id: str | None
    continues_session: bool
    latency_mode: str
    max_seconds: float
    prefix: str
    mp4_support: str = "none"


def new_stream_key() -> str:
    return secrets.token_urlsafe(STREAM_KEY_BYTES)


def new_srt_passphrase() -> str:
    """SRT's passphrase (10-79 characters): a secret of its own, since the streamid shows the key on the wire."""
    return secrets.token_urlsafe(STREAM_KEY_BYTES)


def new_live_stream(body: LiveStreamCreate) -> tuple[LiveStream, list[SimulcastTarget]]:
    """The stream's row and its targets', not yet added: a managed stream's channel is made from their ids and
    key first, while the catalog holds no write lock (its provisioning record commits on its own meanwhile)."""
    stream = LiveStream(
        id=new_id("ls_"), stream_key=new_stream_key(), srt_passphrase=new_srt_passphrase(), status="idle",
        latency_mode=body.latency_mode,
        reconnect_window=body.reconnect_window, max_continuous_duration=body.max_continuous_duration,
        test=body.test, passthrough=body.passthrough, connected=False, recent_asset_ids=[], end_requested=False,
        new_asset_settings=body.new_asset_settings.model_dump(mode="json") if body.new_asset_settings else None,
        scheduled_start=body.scheduled_start, expected_viewers=body.expected_viewers,
    )  # fmt: skip
    return stream, [simulcast.new_target(stream.id, target) for target in body.simulcast_targets]


def create_live_stream(*, db_session: Session, body: LiveStreamCreate, settings: Settings,
                       new: tuple[LiveStream, list[SimulcastTarget]] | None = None) -> LiveStream:
    """Adds `new` (new_live_stream's rows) or rows made now; the caller checked the targets' URLs."""
    stream, targets = new or new_live_stream(body)
    db_session.add(stream)
    db_session.flush()
    for policy in dict.fromkeys(body.playback_policy):
        db_session.add(PlaybackId(id=new_id("pb_"), live_stream_id=stream.id, policy=policy))
    db_session.flush()
    _record(db_session, stream, "created", settings)
    for target in targets:
        simulcast.insert_target(db_session, target)
    return stream


def get_live_stream(*, db_session: Session, live_stream_id: str) -> LiveStream | None:
    return db_session.get(LiveStream, live_stream_id)


def list_live_streams(*, db_session: Session, limit: int = 25, cursor: str | None = None,
                      status: str | None = None) -> tuple[list[LiveStream], str | None]:
    """Newest first, with the same opaque cursor as assets."""
    query = select(LiveStream)
    if status:
        query = query.where(LiveStream.status == status)
    if cursor:
        query = query.where(LiveStream.id < decode_cursor(cursor, prefix="ls_"))
    return page(db_session, query.order_by(LiveStream.id.desc()), limit, lambda row: row.id)


def set_enabled(*, db_session: Session, stream: LiveStream, enabled: bool, settings: Settings) -> None:
    """Disable refuses publishers (and ends a live session at the ingest); enable lets them in again."""
    if enabled and stream.status == "disabled":
        stream.status = "active" if stream.connected else "idle"
        _record(db_session, stream, "enabled", settings)
    elif not enabled and stream.status != "disabled":
        stream.status = "disabled"
        _record(db_session, stream, "disabled", settings)
    db_session.commit()


def set_schedule(*, db_session: Session, stream: LiveStream, body: LiveStreamSchedule) -> None:
    """Announce, move or cancel the stream's scheduled event (the caller reschedules pre-scaling)."""
    stream.scheduled_start, stream.expected_viewers = body.scheduled_start, body.expected_viewers
    db_session.commit()


def reset_stream_key(*, db_session: Session, stream: LiveStream) -> None:
    """A new key and SRT passphrase; the old ones are refused from the next publish on."""
    stream.stream_key = new_stream_key()
    stream.srt_passphrase = new_srt_passphrase()
    db_session.commit()


def delete_live_stream(*, db_session: Session, stream: LiveStream, settings: Settings) -> None:
    """The stream and its playback ids go; recordings stay as assets."""
    _record(db_session, stream, "deleted", settings)
    for playback_id in playback_ids_of(db_session, stream):
        db_session.delete(playback_id)
    for target in simulcast.targets_of(db_session, stream.id):
        simulcast.delete_target(db_session, target)
    db_session.delete(stream)
    db_session.commit()


def authorize_publish(*, db_session: Session, stream_key: str, settings: Settings,
                      now: datetime | None = None, lease: bool = False) -> PublishGrant:
    """Accept a publisher: a new session (recorded if asked), or the same one within the reconnect window.

    `lease`: the accepting ingest is one of several and keeps the publisher's lease alive (`keep_leases`)."""
    now = now or utcnow()
    stream = _publishable(db_session.scalar(
        select(LiveStream).where(LiveStream.stream_key == stream_key).with_for_update()), now)  # fmt: skip
    if stream.connected:  # its ingest died, and no other noticed yet: that connection ends first, as it would have
        _connection_ended(db_session, stream.id, _lease_stale(now), at=LiveStream.ingest_seen_at, settings=settings)
    continues = stream.session_started_at is not None and not _window_passed(stream, now)
    if continues and _limit_passed(stream, now):
        raise PublishRefused(f"live stream {stream.id}: the session reached its duration limit and is ending")
    if not continues:
        recorded = stream.new_asset_settings is not None
        stream.active_asset_id = _new_recording(db_session, stream, settings).id if recorded else None
        stream.session_started_at = now
    stream.connected = True
    stream.disconnected_at = None
    stream.ingest_seen_at = now if lease else None
    stream.status = "active"
    stream.last_refusal = None
    _record(db_session, stream, "connected", settings)
    if not continues and stream.active_asset_id is not None:
        _record(db_session, stream, "recording", settings)
    _record(db_session, stream, "active", settings)
    db_session.commit()
    prefix = session_prefix(stream)
    assert prefix is not None
    return PublishGrant(stream.id, stream.active_asset_id, continues, stream.latency_mode, _seconds_left(stream, now),
                        prefix, mp4_support(stream))


def mp4_support(stream: LiveStream) -> str:
    """The static MP4 its recordings get once a session ends ("none": none)."""
    return str((stream.new_asset_settings or {}).get("mp4_support") or "none")


def refuse_publish(*, db_session: Session, live_stream_id: str, reason: str, message: str, settings: Settings,
                   now: datetime | None = None) -> None:
    """A publisher with a valid key was dropped before admission (no video): the stream says why, and so does a
    `video.live_stream.publish_refused` event; its status and sessions are untouched."""
    stream = db_session.get(LiveStream, live_stream_id)
    if stream is None:
        return
    stream.last_refusal = {"reason": reason, "message": message, "at": (now or utcnow()).isoformat()}
    _record(db_session, stream, "publish_refused", settings)
    db_session.commit()


def session_prefix(stream: LiveStream) -> str | None:
    """Where the current session's objects are: its recording asset's prefix, or a live-only one; None when idle."""
    if stream.active_asset_id is not None:
        return asset_prefix(stream.active_asset_id)
    if stream.session_started_at is None:
        return None
    return live_session_prefix(stream.id, stream.session_started_at)


@dataclass(frozen=True)
class PublishCheck:
    """What the ingest needs before it authorizes: the stream, its SRT passphrase, the session's time left."""

    live_stream_id: str
    srt_passphrase: str | None
    seconds_left: float


def check_publish(*, db_session: Session, stream_key: str, now: datetime | None = None) -> PublishCheck:
    """Would `authorize_publish` accept this key now? Changes nothing.

    The ingest asks first, then checks the video (and the SRT passphrase), then authorizes."""
    now = now or utcnow()
    stream = _publishable(db_session.scalar(select(LiveStream).where(LiveStream.stream_key == stream_key)), now)
    if stream.session_started_at is not None and not _window_passed(stream, now):
        if _limit_passed(stream, now):
            raise PublishRefused(f"live stream {stream.id}: the session reached its duration limit and is ending")
        return PublishCheck(stream.id, stream.srt_passphrase, _seconds_left(stream, now))
    return PublishCheck(stream.id, stream.srt_passphrase,
                        float(TEST_STREAM_SECONDS if stream.test else stream.max_continuous_duration))  # fmt: skip


def _publishable(stream: LiveStream | None, now: datetime) -> LiveStream:
    if stream is None:
        raise PublishRefused("unknown stream key")
    if stream.status == "disabled":
        raise PublishRefused(f"live stream {stream.id} is disabled")
    if held_by_ingest(stream, now):
        raise PublishRefused(f"live stream {stream.id} already has a publisher", busy=True)
    return stream


def held_by_ingest(stream: LiveStream, now: datetime) -> bool:
    """A publisher is connected to an ingest that is alive: not one whose lease went stale (the ingest died)."""
    return stream.connected and _publisher_gone_at(stream, now) is None


def keep_leases(*, db_session: Session, live_stream_ids: list[str], now: datetime | None = None) -> list[str]:
    """The ingest holding these streams' publishers is alive (its heartbeat, every LEASE_HEARTBEAT_SECONDS). The
    ids whose lease it lost: it went stale (the ingest stalled) and another ingest ended the connection."""
    if not live_stream_ids:
        return []
    db_session.execute(update(LiveStream).where(LiveStream.id.in_(live_stream_ids), LiveStream.connected)
                       .values(ingest_seen_at=now or utcnow()))  # fmt: skip
    lost = db_session.scalars(select(LiveStream.id).where(LiveStream.id.in_(live_stream_ids), ~LiveStream.connected))
    ids = list(lost)
    db_session.commit()
    return ids


def _publisher_gone_at(stream: LiveStream, now: datetime) -> datetime | None:
    """When the publisher left: as its ingest said, or at the last heartbeat of an ingest whose lease went stale
    (killed: it could not say so); None while it is connected."""
    if not stream.connected:
        return _aware(stream.disconnected_at) if stream.disconnected_at is not None else None
    seen = stream.ingest_seen_at
    if seen is not None and now - _aware(seen) > timedelta(seconds=INGEST_LEASE_SECONDS):
        return _aware(seen)
    return None


def _limit_passed(stream: LiveStream, now: datetime) -> bool:
    return stream.session_started_at is not None and _seconds_left(stream, now) <= 0


def _seconds_left(stream: LiveStream, now: datetime) -> float:
    """What is left of the session's limit (max_continuous_duration, or 5 minutes for a test stream)."""
    assert stream.session_started_at is not None
    elapsed = (now - _aware(stream.session_started_at)).total_seconds()
    limit = TEST_STREAM_SECONDS if stream.test else stream.max_continuous_duration
    return max(0.0, limit - elapsed)


def publish_ended(*, db_session: Session, live_stream_id: str, settings: Settings,
                  now: datetime | None = None) -> None:
    """The publisher left: the reconnect window starts."""
    _connection_ended(db_session, live_stream_id, at=now or utcnow(), settings=settings)
    db_session.commit()


def end_stale_leases(*, db_session: Session, settings: Settings, now: datetime | None = None) -> list[str]:
    """Publishers of an ingest that died (its lease stale) left at its last heartbeat, as that ingest would have
    said: the stream shows it, `video.live_stream.disconnected` goes out and the reconnect window runs from then.
    The ids this call ended (another ingest may have ended the rest first)."""
    stale = _lease_stale(now or utcnow())
    ended = []
    for live_stream_id in db_session.scalars(select(LiveStream.id).where(LiveStream.connected, stale)).all():
        if _connection_ended(db_session, live_stream_id, stale, at=LiveStream.ingest_seen_at, settings=settings):
            ended.append(live_stream_id)
        db_session.commit()
    return ended


def _lease_stale(now: datetime) -> ColumnElement[bool]:
    """The row's lease went stale: its ingest has said nothing for INGEST_LEASE_SECONDS (as `_publisher_gone_at`)."""
    return LiveStream.ingest_seen_at < now - timedelta(seconds=INGEST_LEASE_SECONDS)


def _connection_ended(db_session: Session, live_stream_id: str, *conditions: ColumnElement[bool],
                      at: datetime | InstrumentedAttribute[datetime | None], settings: Settings) -> bool:
    """The publisher is gone since `at`, with its one `video.live_stream.disconnected` (the caller commits). A
    conditional update, so of several at once (two ingests seeing one stale lease, the dead one's reconnect)
    only the first ends the connection; False for the others, or if it was not connected."""
    ended = db_session.execute(
        update(LiveStream).where(LiveStream.id == live_stream_id, LiveStream.connected, *conditions)
        .values(connected=False, disconnected_at=at).execution_options(synchronize_session=False))  # fmt: skip
    if ended.rowcount != 1:  # type: ignore[attr-defined]
        return False
    stream = db_session.get(LiveStream, live_stream_id, populate_existing=True)
    assert stream is not None
    _record(db_session, stream, "disconnected", settings)
    return True


def request_completion(*, db_session: Session, stream: LiveStream) -> None:
    """`complete`: the ingest ends the session at its next check, without waiting for the reconnect window."""
    stream.end_requested = True
    db_session.commit()


def sessions_to_end(*, db_session: Session, now: datetime | None = None) -> list[LiveStream]:
    """Sessions to close: publisher gone past the reconnect window, completion requested, or past the session's
    limit (`max_continuous_duration`, 5 minutes for a test stream)."""
    now = now or utcnow()
    rows = db_session.scalars(select(LiveStream).where(LiveStream.session_started_at.is_not(None)))
    return [s for s in rows if _due(s, now)]


def still_to_end(*, db_session: Session, stream: LiveStream, now: datetime | None = None) -> bool:
    """Lock the stream's row and look again: of the ingests that saw a handed-over session's window pass, the
    first closes it and the others find it closed (PostgreSQL; SQLite serves one ingest)."""
    db_session.refresh(stream, with_for_update=True)
    return stream.session_started_at is not None and _due(stream, now or utcnow())


def _due(stream: LiveStream, now: datetime) -> bool:
    return stream.end_requested or _window_passed(stream, now) or _limit_passed(stream, now)


def should_stop(*, db_session: Session, live_stream_id: str) -> bool:
    """A running session stops when its stream is deleted, disabled or completed."""
    stream = db_session.get(LiveStream, live_stream_id)
    return stream is None or stream.status == "disabled" or stream.end_requested


def complete_session(*, db_session: Session, stream: LiveStream, duration: float | None, settings: Settings,
                     recording_ready: bool = True, now: datetime | None = None) -> None:
    """End the session: the stream goes idle, its recording asset is ready (live-to-VOD, no re-encode).

    A managed session's recording is ready later, when its harvest job completes (`recording_ready=False`)."""
    if stream.connected:  # a connection of an ingest that died, not yet ended by another: it ends first
        _connection_ended(db_session, stream.id, _lease_stale(now or utcnow()), at=LiveStream.ingest_seen_at,
                          settings=settings)  # fmt: skip
    asset_id = stream.active_asset_id
    stream.connected = False
    stream.end_requested = False
    stream.active_asset_id = None
    stream.session_started_at = None
    if stream.status != "disabled":
        stream.status = "idle"
    if asset_id is not None:
        stream.recent_asset_ids = [asset_id, *(stream.recent_asset_ids or [])][:10]
        asset = assets.get_asset(db_session=db_session, asset_id=asset_id)
        if asset is not None and asset.status != "ready":
            asset.duration = duration
            if recording_ready:
                mark_recording_ready(db_session=db_session, asset=asset, settings=settings)
    _record(db_session, stream, "idle", settings)
    db_session.commit()


def mark_recording_ready(*, db_session: Session, asset: Asset, settings: Settings) -> None:
    """A finished session's recording is VOD: `video.asset.live_stream_completed`, then `video.asset.ready`."""
    asset.status, asset.progress, asset.ready_at = "ready", 100.0, utcnow()
    out = assets.asset_to_out(asset, settings.edge_base_url).model_dump(mode="json")
    record_event(db_session=db_session, type="video.asset.live_stream_completed", object_type="asset",
                 object_id=asset.id, data=out)
    record_event(db_session=db_session, type="video.asset.ready", object_type="asset", object_id=asset.id, data=out)


def playback_ids_of(db_session: Session, stream: LiveStream) -> list[PlaybackId]:
    return list(db_session.scalars(
        select(PlaybackId).where(PlaybackId.live_stream_id == stream.id).order_by(PlaybackId.created_at)
    ))  # fmt: skip


def ingest_host(settings: Settings) -> str:
    host = settings.public_ingest_host or settings.api_host
    return "127.0.0.1" if host in ("0.0.0.0", "::", "") else host


def rtmp_url(settings: Settings) -> str | None:
    """The server URL a publisher (OBS) puts the key after."""
    return f"rtmp://{ingest_host(settings)}:{settings.rtmp_port}/{RTMP_APPLICATION}" if settings.rtmp_port else None


def srt_url(settings: Settings, stream: LiveStream) -> str | None:
    """A complete SRT URL, usable as it is: the key in the streamid, and the stream's passphrase."""
    if not settings.srt_port or not stream.srt_passphrase:
        return None
    return (f"srt://{ingest_host(settings)}:{settings.srt_port}?streamid=publish:{stream.stream_key}"
            f"&passphrase={stream.srt_passphrase}")


@dataclass(frozen=True)
class PlaybackPaths:
    """Where a live stream's playback id plays: its master, and the prefix a signature must cover."""

    master: str
    resource: str


def managed_playback(stream: LiveStream, settings: Settings) -> PlaybackPaths | None:
    """A managed stream plays from its MediaPackage v2 endpoint through CloudFront's /out/v1/*; None otherwise."""
    if not stream.managed or not settings.mediapackage_channel_group:
        return None
    group = settings.mediapackage_channel_group
    names = ManagedLiveNames(prefix=group, channel_group=group, live_stream_id=stream.id)
    return PlaybackPaths(names.manifest_path(low_latency=stream.latency_mode == "low"), f"{names.endpoint_prefix}*")


def live_stream_to_out(db_session: Session, stream: LiveStream, settings: Settings, *, show_key: bool) -> LiveStreamOut:
    base = settings.edge_base_url
    managed = managed_playback(stream, settings)

    def url(playback_id: str) -> str:
        return f"{base}{managed.master}" if managed else assets.playback_url(base, playback_id)

    return LiveStreamOut(
        id=stream.id, stream_key=stream.stream_key if show_key else None, status=stream.status,  # type: ignore[arg-type]
        connected=stream.connected, latency_mode=stream.latency_mode,  # type: ignore[arg-type]
        reconnect_window=stream.reconnect_window, max_continuous_duration=stream.max_continuous_duration,
        test=stream.test, passthrough=stream.passthrough, new_asset_settings=stream.new_asset_settings,
        playback_ids=[PlaybackIdOut(id=p.id, policy=p.policy, url=url(p.id))  # type: ignore[arg-type]
                      for p in playback_ids_of(db_session, stream)],
        active_asset_id=stream.active_asset_id, recent_asset_ids=list(stream.recent_asset_ids or []),
        simulcast_targets=[simulcast.target_to_out(t, show_key=show_key)
                           for t in simulcast.targets_of(db_session, stream.id)],
        scheduled_start=stream.scheduled_start, expected_viewers=stream.expected_viewers,
        rtmp_url=(stream.managed or {}).get("rtmp_url") if stream.managed else rtmp_url(settings),
        srt_url=srt_url(settings, stream) if show_key and not stream.managed else None,
        last_refusal=PublishRefusal.model_validate(stream.last_refusal) if stream.last_refusal else None,
        created_at=stream.created_at or utcnow(),
    )  # fmt: skip


def _new_recording(db_session: Session, stream: LiveStream, settings: Settings) -> Asset:
    """The session's asset: playable while live (EVENT), VOD when the session ends."""
    new_settings = NewAssetSettings.model_validate(stream.new_asset_settings or {})
    asset = assets.create_asset(db_session=db_session, new_asset_settings=new_settings,
                                edge_base_url=settings.edge_base_url)
    asset.status = "preparing"
    asset.passthrough = new_settings.passthrough or stream.passthrough
    return asset


def _window_passed(stream: LiveStream, now: datetime) -> bool:
    gone_at = _publisher_gone_at(stream, now)
    return gone_at is not None and now - gone_at > timedelta(seconds=stream.reconnect_window)


def _aware(moment: datetime) -> datetime:
    """SQLite hands back naive datetimes for timezone-aware columns; they are UTC."""
    from datetime import UTC

    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _record(db_session: Session, stream: LiveStream, event: str, settings: Settings) -> None:
    data = live_stream_to_out(db_session, stream, settings, show_key=False).model_dump(mode="json")
    record_event(db_session=db_session, type=f"video.live_stream.{event}", object_type="live_stream",
                 object_id=stream.id, data=data)
