"""REST routes for live streams (Mux's shape): create, list, show, delete, disable/enable, reset key, complete."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker

from streamstack.aws import error_code
from streamstack.db.pagination import MAX_PAGE
from streamstack.deps import get_platform, get_session
from streamstack.errors import Problem, not_found
from streamstack.idempotency import run_idempotent
from streamstack.keys.auth import require_scope
from streamstack.keys.models import ApiKey
from streamstack.keys.service import has_scope
from streamstack.live import managed, provisioning, service, simulcast
from streamstack.live.models import (
    LiveStatus,
    LiveStream,
    LiveStreamCreate,
    LiveStreamList,
    LiveStreamOut,
    LiveStreamSchedule,
    SimulcastTarget,
    SimulcastTargetCreate,
    SimulcastTargetList,
    SimulcastTargetOut,
)
from streamstack.live.prescale import reschedule
from streamstack.media.managed_live import ManagedChannel, ManagedLive
from streamstack.outbound import UrlRefused
from streamstack.platform import Platform
from streamstack.settings import Settings

log = logging.getLogger("streamstack.live.views")
router = APIRouter(prefix="/v1/live-streams", tags=["live streams"])
WRITE = [Depends(require_scope("write"))]


def _stream(db_session: Session, live_stream_id: str) -> LiveStream:
    stream = service.get_live_stream(db_session=db_session, live_stream_id=live_stream_id)
    if stream is None:
        raise not_found("live stream", live_stream_id)
    return stream


def _out(db_session: Session, stream: LiveStream, platform: Platform, key: ApiKey) -> LiveStreamOut:
    return service.live_stream_to_out(db_session, stream, platform.settings, show_key=has_scope(key, "write"))


@router.post("", status_code=201, response_model=LiveStreamOut, dependencies=WRITE)
def create_live_stream(body: LiveStreamCreate, request: Request, db_session: Session = Depends(get_session),
                       platform: Platform = Depends(get_platform)) -> JSONResponse:
    """A stream key, playback ids and ingest URLs; the stream goes active when a publisher connects."""
    for index, target in enumerate(body.simulcast_targets):
        _check_target(target, platform.settings, ("simulcast_targets", index, "url"))

    def create() -> dict:
        new = service.new_live_stream(body)
        if platform.managed_live is not None:  # before the stream's rows: the catalog holds no write lock meanwhile
            new[0].managed = _provision(platform.managed_live, platform.sessions, *new).to_json()
        stream = service.create_live_stream(db_session=db_session, body=body, settings=platform.settings, new=new)
        if platform.managed_live is not None:
            _finish_provisioning(db_session, stream.id)
        # A failed commit leaves the channel to the worker's sweep, which first checks that no stream committed
        # (a commit can fail after it took effect: undoing here could delete a live stream's channel).
        db_session.commit()
        if stream.scheduled_start is not None:
            reschedule(db_session, platform.prescaler, platform.settings)
        return service.live_stream_to_out(db_session, stream, platform.settings, show_key=True).model_dump(mode="json")

    return run_idempotent(request=request, db_session=db_session, body=body.model_dump(mode="json"),
                          status_code=201, create=create, ttl_seconds=platform.settings.idempotency_ttl_seconds)


@router.get("", response_model=LiveStreamList)
def list_live_streams(limit: int = Query(25, ge=1, le=MAX_PAGE), cursor: str | None = None,
                      status: LiveStatus | None = None, db_session: Session = Depends(get_session),
                      platform: Platform = Depends(get_platform),
                      key: ApiKey = Depends(require_scope("read"))) -> LiveStreamList:
    try:
        rows, next_cursor = service.list_live_streams(db_session=db_session, limit=limit, cursor=cursor,
                                                      status=status)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    return LiveStreamList(data=[_out(db_session, s, platform, key) for s in rows], next_cursor=next_cursor)


@router.get("/{live_stream_id}", response_model=LiveStreamOut)
def get_live_stream(live_stream_id: str, db_session: Session = Depends(get_session),
                    platform: Platform = Depends(get_platform),
                    key: ApiKey = Depends(require_scope("read"))) -> LiveStreamOut:
    return _out(db_session, _stream(db_session, live_stream_id), platform, key)


@router.delete("/{live_stream_id}", status_code=204, dependencies=WRITE)
def delete_live_stream(live_stream_id: str, db_session: Session = Depends(get_session),
                       platform: Platform = Depends(get_platform)) -> Response:
    """The ingest ends a live session of a deleted stream; its recordings stay."""
    stream = _stream(db_session, live_stream_id)
    scheduled = stream.scheduled_start is not None
    if platform.managed_live is not None:
        _managed_call(managed.deprovision, managed=platform.managed_live, stream=stream)
    service.delete_live_stream(db_session=db_session, stream=stream, settings=platform.settings)
    if scheduled:
        reschedule(db_session, platform.prescaler, platform.settings)
    return Response(status_code=204)


@router.patch("/{live_stream_id}", response_model=LiveStreamOut, dependencies=WRITE)
def schedule_live_stream(live_stream_id: str, body: LiveStreamSchedule, db_session: Session = Depends(get_session),
                         platform: Platform = Depends(get_platform),
                         key: ApiKey = Depends(require_scope("write"))) -> LiveStreamOut:
    """Announce, move or cancel (nulls) the event: in the aws shape its services pre-scale ahead of the start."""
    stream = _stream(db_session, live_stream_id)
    service.set_schedule(db_session=db_session, stream=stream, body=body)
    reschedule(db_session, platform.prescaler, platform.settings)
    return _out(db_session, stream, platform, key)


@router.post("/{live_stream_id}/reset-stream-key", response_model=LiveStreamOut)
def reset_stream_key(live_stream_id: str, db_session: Session = Depends(get_session),
                     platform: Platform = Depends(get_platform),
                     key: ApiKey = Depends(require_scope("write"))) -> LiveStreamOut:
    stream = _stream(db_session, live_stream_id)
    _refuse_while_live(platform, stream, "reset the key")
    service.reset_stream_key(db_session=db_session, stream=stream)
    if platform.managed_live is not None:
        _managed_call(managed.rekey, managed=platform.managed_live, stream=stream)
    return _out(db_session, stream, platform, key)


@router.put("/{live_stream_id}/complete", response_model=LiveStreamOut)
def complete_live_stream(live_stream_id: str, db_session: Session = Depends(get_session),
                         platform: Platform = Depends(get_platform),
                         key: ApiKey = Depends(require_scope("write"))) -> LiveStreamOut:
    """End the session now, without waiting for the reconnect window (the ingest closes the recording)."""
    stream = _stream(db_session, live_stream_id)
    if stream.session_started_at is None:
        raise Problem(409, "Conflict", f"live stream {live_stream_id!r} has no session to complete")
    service.request_completion(db_session=db_session, stream=stream)
    if platform.managed_live is not None:  # the channel's state change ends the session
        _managed_call(managed.set_running, managed=platform.managed_live, stream=stream, running=False)
    return _out(db_session, stream, platform, key)


# after /complete: FastAPI matches routes in order
@router.put("/{live_stream_id}/{action}", response_model=LiveStreamOut)
def set_live_stream_enabled(live_stream_id: str, action: Literal["disable", "enable"],
                            db_session: Session = Depends(get_session), platform: Platform = Depends(get_platform),
                            key: ApiKey = Depends(require_scope("write"))) -> LiveStreamOut:
    """`disable` refuses publishers and stops a live session; `enable` lets them in again."""
    stream = _stream(db_session, live_stream_id)
    service.set_enabled(db_session=db_session, stream=stream, enabled=action == "enable", settings=platform.settings)
    if platform.managed_live is not None:
        _managed_call(managed.set_running, managed=platform.managed_live, stream=stream, running=action == "enable")
    if stream.scheduled_start is not None:  # a disabled stream's event is cancelled; enabling announces it again
        reschedule(db_session, platform.prescaler, platform.settings)
    return _out(db_session, stream, platform, key)


def _provision(managed_live: ManagedLive, sessions: sessionmaker[Session], stream: LiveStream,
               targets: list[SimulcastTarget]) -> ManagedChannel:  # fmt: skip
    """The stream's MediaLive channel; if AWS refuses, what was made goes and the create fails (nothing stays;
    what a failed cleanup leaves, the worker's sweep deletes)."""
    try:
        return provisioning.provision(managed=managed_live, sessions=sessions, stream=stream, targets=targets)
    except OperationalError:  # the catalog failed, not AWS: a 503 (get_session); the sweep undoes what it recorded
        raise
    except Exception as exc:
        log.warning("managed live provisioning failed", extra={"live_stream_id": stream.id, "error": str(exc)})
        try:
            provisioning.undo(managed=managed_live, sessions=sessions, live_stream_id=stream.id)
        except Exception as cleanup:
            log.warning("managed live cleanup failed; the sweep retries it", extra={
                "live_stream_id": stream.id, "error": str(cleanup)})  # fmt: skip
        raise Problem(502, "Bad Gateway", f"MediaLive could not create the stream's channel: {error_code(exc) or exc}"
                      ) from exc  # fmt: skip


def _finish_provisioning(db_session: Session, live_stream_id: str) -> None:
    try:
        provisioning.finish(db_session, live_stream_id)
    except provisioning.ProvisioningAbandoned as exc:
        raise Problem(503, "Service Unavailable", f"{exc}; create the stream again") from exc


def _refuse_while_live(platform: Platform, stream: LiveStream, what: str) -> None:
    """A managed stream's input and channel change only while the channel is stopped: not under a publisher."""
    if platform.managed_live is not None and stream.connected:
        raise Problem(409, "Conflict", f"live stream {stream.id!r} has a publisher: MediaLive changes an input "
                      f"or a channel only while it is stopped, so {what} when no publisher is live")  # fmt: skip


def _managed_call(action: Callable[..., None], **kwargs: Any) -> None:
    """A 502 naming AWS's error code when MediaLive or MediaPackage refuse (the catalog change stays)."""
    try:
        action(**kwargs)
    except Exception as exc:
        log.warning("managed live call failed", extra={"action": action.__name__, "error": str(exc)})
        raise Problem(502, "Bad Gateway", f"MediaLive refused {action.__name__}: {error_code(exc) or exc}") from exc


# --- simulcast targets ---------------------------------------------------------------------------


def _check_target(body: SimulcastTargetCreate, settings: Settings, field: tuple[str | int, ...] = ("url",)) -> None:
    """422 naming the field: a scheme other than rtmp(s), credentials in the URL, a private address (SSRF)."""
    try:
        simulcast.check_target_url(body.url, settings)
    except UrlRefused as exc:
        loc = ["body", *field]
        raise Problem(422, "Unprocessable Content", f"{'.'.join(map(str, loc))}: {exc}",
                      errors=[{"loc": loc, "msg": str(exc), "type": "url_refused"}]) from exc  # fmt: skip


def _target_out(target: object, key: ApiKey) -> SimulcastTargetOut:
    return simulcast.target_to_out(target, show_key=has_scope(key, "write"))  # type: ignore[arg-type]


@router.post("/{live_stream_id}/simulcast-targets", status_code=201, response_model=SimulcastTargetOut)
def create_simulcast_target(live_stream_id: str, body: SimulcastTargetCreate, request: Request,
                            db_session: Session = Depends(get_session), platform: Platform = Depends(get_platform),
                            key: ApiKey = Depends(require_scope("write"))) -> JSONResponse:
    """Restream to an RTMP(S) destination; on a live stream it starts within a second (a managed stream's channel
    takes it while no publisher is live)."""
    stream = _stream(db_session, live_stream_id)
    _check_target(body, platform.settings)

    def create() -> dict:
        _refuse_while_live(platform, stream, "add simulcast targets")
        try:
            target = simulcast.add_target(db_session=db_session, stream=stream, body=body)
        except simulcast.TooManyTargets as exc:
            raise Problem(409, "Conflict", str(exc)) from exc
        if platform.managed_live is not None:
            _managed_call(managed.retarget, managed=platform.managed_live, db_session=db_session, stream=stream)
        db_session.commit()
        return simulcast.target_to_out(target, show_key=True).model_dump(mode="json")

    return run_idempotent(request=request, db_session=db_session, body=body.model_dump(mode="json"),
                          status_code=201, create=create, ttl_seconds=platform.settings.idempotency_ttl_seconds)


@router.get("/{live_stream_id}/simulcast-targets", response_model=SimulcastTargetList)
def list_simulcast_targets(live_stream_id: str, db_session: Session = Depends(get_session),
                           key: ApiKey = Depends(require_scope("read"))) -> SimulcastTargetList:
    stream = _stream(db_session, live_stream_id)
    return SimulcastTargetList(data=[_target_out(t, key) for t in simulcast.targets_of(db_session, stream.id)])


@router.get("/{live_stream_id}/simulcast-targets/{target_id}", response_model=SimulcastTargetOut)
def get_simulcast_target(live_stream_id: str, target_id: str, db_session: Session = Depends(get_session),
                         key: ApiKey = Depends(require_scope("read"))) -> SimulcastTargetOut:
    target = simulcast.get_target(db_session, _stream(db_session, live_stream_id).id, target_id)
    if target is None:
        raise not_found("simulcast target", target_id)
    return _target_out(target, key)


@router.delete("/{live_stream_id}/simulcast-targets/{target_id}", status_code=204, dependencies=WRITE)
def delete_simulcast_target(live_stream_id: str, target_id: str, db_session: Session = Depends(get_session),
                            platform: Platform = Depends(get_platform)) -> Response:
    """A running restream stops within a second (a managed stream's channel drops it while no publisher is live)."""
    stream = _stream(db_session, live_stream_id)
    target = simulcast.get_target(db_session, stream.id, target_id)
    if target is None:
        raise not_found("simulcast target", target_id)
    _refuse_while_live(platform, stream, "remove simulcast targets")
    simulcast.delete_target(db_session, target)
    if platform.managed_live is not None:
        db_session.flush()
        _managed_call(managed.retarget, managed=platform.managed_live, db_session=db_session, stream=stream)
    db_session.commit()
    return Response(status_code=204)
