"""REST routes for text tracks: POST /v1/assets/{id}/tracks (JSON with a url, or a multipart upload), DELETE."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError
from sqlalchemy.orm import Session

from streamstack.assets import service, tracks
from streamstack.assets.models import Asset, TrackCreate, TrackOut
from streamstack.deps import get_platform, get_session
from streamstack.errors import Problem, not_found
from streamstack.keys.auth import require_scope
from streamstack.media.captions import MAX_CAPTION_BYTES
from streamstack.platform import Platform

router = APIRouter(prefix="/v1/assets", tags=["tracks"])
FILE_PART = "file"
_FORM_SCHEMA = {
    "type": "object",
    "required": ["language_code", FILE_PART],
    "properties": {
        **{name: field for name, field in TrackCreate.model_json_schema()["properties"].items() if name != "url"},
        FILE_PART: {"type": "string", "format": "binary", "description": "A WebVTT or SRT file (UTF-8)."},
    },
}
_REQUEST_BODY = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": TrackCreate.model_json_schema()},
    "multipart/form-data": {"schema": _FORM_SCHEMA},
}}}


@router.post("/{asset_id}/tracks", status_code=201, response_model=TrackOut, openapi_extra=_REQUEST_BODY,
             dependencies=[Depends(require_scope("write"))])
async def create_track(asset_id: str, request: Request, db_session: Session = Depends(get_session),
                       platform: Platform = Depends(get_platform)) -> TrackOut:
    """Add a WebVTT or SRT text track (SRT is converted); it joins the master's SUBTITLES group."""
    body, data = await read_track_request(request)
    if data is None:
        assert body.url is not None
        data = await run_in_threadpool(_fetch, body.url, platform)
    return await run_in_threadpool(_create, db_session, platform, asset_id, body, data)


@router.delete("/{asset_id}/tracks/{track_id}", status_code=204, dependencies=[Depends(require_scope("write"))])
def delete_track(asset_id: str, track_id: str, db_session: Session = Depends(get_session),
                 platform: Platform = Depends(get_platform)) -> Response:
    asset = _asset(db_session, asset_id)
    track = next((t for t in asset.tracks if t.id == track_id), None)
    if track is None:
        raise not_found("track", track_id)
    tracks.delete_track(db_session=db_session, store=platform.store, asset=asset, track=track)
    db_session.commit()
    return Response(status_code=204)


async def read_track_request(request: Request) -> tuple[TrackCreate, bytes | None]:
    """JSON names a `url`; a multipart form carries the same fields plus the file in its `file` part."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json":
        body = _validate(await request.body(), json=True)
        if body.url is None:
            raise Problem(422, "Unprocessable Content", "send the caption file's `url`, or upload the file as "
                          f"the `{FILE_PART}` part of a multipart/form-data request", code="missing_file")
        return body, None
    if content_type == "multipart/form-data":
        async with request.form(max_files=1, max_fields=10) as form:
            upload = form.get(FILE_PART)
            fields = {k: v for k, v in form.items() if k != FILE_PART and isinstance(v, str)}
            if upload is None or isinstance(upload, str):
                raise Problem(422, "Unprocessable Content", f"the form has no `{FILE_PART}` part with the caption "
                              "file", code="missing_file")
            data = await upload.read(MAX_CAPTION_BYTES + 1)
        body = _validate(fields, json=False)
        if body.url is not None:
            raise Problem(422, "Unprocessable Content", "send either a `url` or a file, not both", code="both")
        return body, data
    raise Problem(415, "Unsupported Media Type", "send application/json with a `url`, or multipart/form-data "
                  f"with the file in a `{FILE_PART}` part")


def _validate(raw: Any, *, json: bool) -> TrackCreate:
    try:
        return TrackCreate.model_validate_json(raw) if json else TrackCreate.model_validate(raw)
    except ValidationError as exc:
        raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from exc


def _fetch(url: str, platform: Platform) -> bytes:
    try:
        return tracks.fetch_caption_file(url, platform.settings)
    except tracks.TrackRefused as exc:
        raise _problem(exc) from exc


def _create(db_session: Session, platform: Platform, asset_id: str, body: TrackCreate, data: bytes) -> TrackOut:
    asset = _asset(db_session, asset_id)
    try:
        track = tracks.create_track(db_session=db_session, store=platform.store, asset=asset, body=body,
                                    data=data, edge_base_url=platform.settings.edge_base_url)
    except tracks.TrackRefused as exc:
        raise _problem(exc) from exc
    db_session.commit()
    return service.track_to_out(track)


def _problem(refused: tracks.TrackRefused) -> Problem:
    title = {409: "Conflict", 413: "Content Too Large"}.get(refused.status, "Unprocessable Content")
    return Problem(refused.status, title, str(refused), code=refused.code)


def _asset(db_session: Session, asset_id: str) -> Asset:
    asset = service.get_asset(db_session=db_session, asset_id=asset_id)
    if asset is None:
        raise not_found("asset", asset_id)
    return asset
