"""REST routes for assets: import from URL, list (filter by meta, search titles), show, update meta, delete."""

from __future__ import annotations

import json
from urllib.parse import unquote, urlsplit

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from streamstack.assets import clips, service
from streamstack.assets.imports import import_message
from streamstack.assets.models import ID_MAX, TITLE_MAX, AssetCreate, AssetList, AssetOut, AssetStatus, AssetUpdate
from streamstack.db.pagination import MAX_PAGE
from streamstack.deps import get_platform, get_session
from streamstack.errors import Problem, not_found
from streamstack.idempotency import run_idempotent
from streamstack.keys.auth import require_scope
from streamstack.observability.logging import inject_request_id
from streamstack.outbound import UrlRefused, check_url
from streamstack.platform import Platform
from streamstack.storage.base import StorageUnavailable

router = APIRouter(prefix="/v1/assets", tags=["assets"])


@router.post("", status_code=201, response_model=AssetOut, dependencies=[Depends(require_scope("write"))])
def create_asset(body: AssetCreate, request: Request, db_session: Session = Depends(get_session),
                 platform: Platform = Depends(get_platform)) -> JSONResponse:
    """Import from a URL (validated now, fetched by the worker), or clip an asset (ready when this returns)."""
    settings = platform.settings
    source_id = clips.clip_source_id(body.input)
    if source_id is not None:
        return _create_clip(body, source_id, request, db_session, platform)
    if body.start_time is not None or body.end_time is not None:
        raise Problem(422, "Unprocessable Content", "start_time and end_time apply to clips only "
                      "(input streamstack://assets/{id})", code="clip_range_without_clip")
    try:
        check_url(body.input, settings)
    except UrlRefused as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from exc

    def create() -> dict:
        asset = service.create_asset(db_session=db_session, new_asset_settings=body, input_url=body.input,
                                     edge_base_url=settings.edge_base_url, file_name=url_file_name(body.input))
        db_session.commit()
        platform.encode_queue.send(json.dumps(import_message(asset.id, body.input)),
                                   attributes=inject_request_id())
        return service.asset_to_out(asset, settings.edge_base_url).model_dump(mode="json")

    return run_idempotent(request=request, db_session=db_session, body=body.model_dump(mode="json"),
                          status_code=201, create=create, ttl_seconds=settings.idempotency_ttl_seconds)


def _create_clip(body: AssetCreate, source_id: str, request: Request, db_session: Session,
                 platform: Platform) -> JSONResponse:
    """The clip is made within the request (copies only); an Idempotency-Key replays the same clip."""
    settings = platform.settings

    def create() -> dict:
        try:
            clip = clips.create_clip(db_session=db_session, store=platform.store, source_id=source_id,
                                     start_time=body.start_time, end_time=body.end_time, new_asset_settings=body,
                                     edge_base_url=settings.edge_base_url)  # fmt: skip
        except clips.ClipRefused as exc:
            raise Problem(422, "Unprocessable Content", str(exc), code=exc.code) from exc
        except StorageUnavailable as exc:
            raise Problem(503, "Service Unavailable", "the object store is unavailable; no clip was made") from exc
        db_session.commit()
        return service.asset_to_out(clip, settings.edge_base_url).model_dump(mode="json")

    return run_idempotent(request=request, db_session=db_session, body=body.model_dump(mode="json"),
                          status_code=201, create=create, ttl_seconds=settings.idempotency_ttl_seconds)


def url_file_name(url: str) -> str | None:
    """The last path segment of an import URL (`.../match%201.mp4` -> `match 1.mp4`), a default title."""
    return unquote(urlsplit(url).path.rsplit("/", 1)[-1]) or None


@router.get("", response_model=AssetList, dependencies=[Depends(require_scope("read"))])
def list_assets(limit: int = Query(25, ge=1, le=MAX_PAGE), cursor: str | None = None,
                status: AssetStatus | None = None,
                creator_id: str | None = Query(None, max_length=ID_MAX, description="Exactly this meta.creator_id."),
                external_id: str | None = Query(None, max_length=ID_MAX,
                                                description="Exactly this meta.external_id."),
                title: str | None = Query(None, max_length=TITLE_MAX,
                                          description="Titles containing this text, any case."),
                db_session: Session = Depends(get_session), platform: Platform = Depends(get_platform)) -> AssetList:
    try:
        rows, next_cursor = service.list_assets(db_session=db_session, limit=limit, cursor=cursor, status=status,
                                                creator_id=creator_id, external_id=external_id, title=title)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    base = platform.settings.edge_base_url
    return AssetList(data=[service.asset_to_out(a, base) for a in rows], next_cursor=next_cursor)


@router.get("/{asset_id}", response_model=AssetOut, dependencies=[Depends(require_scope("read"))])
def get_asset(asset_id: str, db_session: Session = Depends(get_session),
              platform: Platform = Depends(get_platform)) -> AssetOut:
    asset = service.get_asset(db_session=db_session, asset_id=asset_id)
    if asset is None:
        raise not_found("asset", asset_id)
    return service.asset_to_out(asset, platform.settings.edge_base_url)


@router.patch("/{asset_id}", response_model=AssetOut, dependencies=[Depends(require_scope("write"))])
def update_asset(asset_id: str, body: AssetUpdate, db_session: Session = Depends(get_session),
                 platform: Platform = Depends(get_platform)) -> AssetOut:
    """Change meta or passthrough; fields not sent keep their value."""
    asset = service.get_asset(db_session=db_session, asset_id=asset_id)
    if asset is None:
        raise not_found("asset", asset_id)
    base = platform.settings.edge_base_url
    service.update_asset(db_session=db_session, asset=asset, update=body, edge_base_url=base)
    db_session.commit()
    return service.asset_to_out(asset, base)


@router.delete("/{asset_id}", status_code=204, dependencies=[Depends(require_scope("write"))])
def delete_asset(asset_id: str, db_session: Session = Depends(get_session),
                 platform: Platform = Depends(get_platform)) -> Response:
    asset = service.get_asset(db_session=db_session, asset_id=asset_id)
    if asset is None:
        raise not_found("asset", asset_id)
    try:
        service.delete_asset(db_session=db_session, store=platform.store, asset=asset)
    except StorageUnavailable as exc:
        raise Problem(503, "Service Unavailable", "the object store is unavailable; the asset was kept") from exc
    return Response(status_code=204)

