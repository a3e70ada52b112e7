"""POST /v1/uploads and the tus 1.0 endpoints (core, creation, defer-length, termination, checksum)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from streamstack.assets.models import NewAssetSettings
from streamstack.deps import get_platform, get_session
from streamstack.errors import Problem, not_found
from streamstack.idempotency import run_idempotent
from streamstack.keys.auth import require_scope
from streamstack.numeric import NotANumber, parse_non_negative_int
from streamstack.platform import Platform
from streamstack.storage.base import StorageUnavailable
from streamstack.uploads import service
from streamstack.uploads.models import Upload, UploadCreate, UploadOut
from streamstack.uploads.s3_multipart import UploadBackend, open_upload_backend

router = APIRouter(tags=["uploads"])

TUS_VERSION = "1.0.0"
TUS_EXTENSIONS = "creation,creation-defer-length,termination,checksum"


def tus_headers(platform: Platform, **extra: str) -> dict[str, str]:
    return {"Tus-Resumable": TUS_VERSION, "Cache-Control": "no-store", **extra}


def upload_out(upload: Upload, platform: Platform) -> UploadOut:
    return UploadOut(id=upload.id, asset_id=upload.asset_id, url=tus_url(platform, upload.id), status=upload.status)


def tus_url(platform: Platform, upload_id: str) -> str:
    return f"{platform.settings.api_base_url}/tus/{upload_id}"


@router.post("/v1/uploads", status_code=201, response_model=UploadOut,
             dependencies=[Depends(require_scope("write"))])
def create_upload(body: UploadCreate, request: Request, db_session: Session = Depends(get_session),
                  platform: Platform = Depends(get_platform)) -> JSONResponse:
    """A direct upload: a waiting asset plus a tus URL any tus client can PATCH and resume."""
    if body.size is not None:
        decode(service.check_length, body.size, platform.settings.max_upload_bytes)

    def create() -> dict:
        upload = service.create_upload(db_session=db_session, new_asset_settings=body.new_asset_settings,
                                       edge_base_url=platform.settings.edge_base_url, length=body.size)
        out = upload_out(upload, platform)
        if (multipart := open_upload_backend(platform).begin(upload, size=body.size)) is not None:
            out.multipart = multipart.model_dump(mode="json")
        return out.model_dump(mode="json", exclude_none=True)

    return run_idempotent(request=request, db_session=db_session, body=body.model_dump(mode="json"),
                          status_code=201, create=create, ttl_seconds=platform.settings.idempotency_ttl_seconds)


@router.get("/v1/uploads/{upload_id}", response_model=UploadOut, dependencies=[Depends(require_scope("read"))])
def get_upload(upload_id: str, db_session: Session = Depends(get_session),
               platform: Platform = Depends(get_platform)) -> UploadOut:
    upload = db_session.get(Upload, upload_id)
    if upload is None:
        raise not_found("upload", upload_id)
    return upload_out(upload, platform)


@router.options("/tus", include_in_schema=False)
@router.options("/tus/{upload_id}", include_in_schema=False)
def tus_options(platform: Platform = Depends(get_platform)) -> Response:
    headers = tus_headers(platform, **{
        "Tus-Version": TUS_VERSION, "Tus-Extension": TUS_EXTENSIONS,
        "Tus-Max-Size": str(platform.settings.max_upload_bytes),
        "Tus-Checksum-Algorithm": ",".join(service.CHECKSUM_ALGORITHMS),
    })
    return Response(status_code=204, headers=headers)


@router.post("/tus", status_code=201, include_in_schema=False, dependencies=[Depends(require_scope("write"))])
def tus_create(request: Request, db_session: Session = Depends(get_session),
               platform: Platform = Depends(get_platform)) -> Response:
    """tus creation for generic clients (Uppy, tus-js-client): metadata may carry playback_policy."""
    check_tus_version(request)
    length = requested_length(request, platform)
    metadata = decode(service.decode_metadata, request.headers.get("upload-metadata"))
    policy = metadata.get("playback_policy", "public")
    if policy not in ("public", "signed"):
        raise Problem(400, "Bad Request", "playback_policy metadata must be 'public' or 'signed'")
    upload = service.create_upload(
        db_session=db_session, new_asset_settings=NewAssetSettings(playback_policy=[policy]),  # type: ignore[list-item]
        edge_base_url=platform.settings.edge_base_url, length=length, metadata=metadata,
    )
    headers = tus_headers(platform, Location=tus_url(platform, upload.id), **{"Upload-Offset": "0"})
    return Response(status_code=201, headers=headers)


@router.post("/tus/{upload_id}", status_code=201, include_in_schema=False)
def tus_declare(upload_id: str, request: Request, db_session: Session = Depends(get_session),
                platform: Platform = Depends(get_platform)) -> Response:
    """A tus client pointed at an upload URL from /v1/uploads creates 'there': this fixes its length."""
    check_tus_version(request)
    upload = find_upload(db_session, upload_id)
    length = requested_length(request, platform)
    if length is not None:
        set_length(upload, length)
    if request.headers.get("upload-metadata"):
        metadata = decode(service.decode_metadata, request.headers["upload-metadata"])
        service.declare_metadata(db_session=db_session, upload=upload, metadata=metadata)
    db_session.commit()
    if upload.length == 0 and upload.status == "waiting":
        backend = open_upload_backend(platform)
        with backend.lock(upload.id) as handle:
            finish(db_session, backend, upload, handle)
    headers = tus_headers(platform, Location=tus_url(platform, upload.id), **{"Upload-Offset": str(upload.offset)})
    return Response(status_code=201, headers=headers)


@router.head("/tus/{upload_id}", include_in_schema=False)
def tus_head(upload_id: str, request: Request, db_session: Session = Depends(get_session),
             platform: Platform = Depends(get_platform)) -> Response:
    upload = find_upload(db_session, upload_id)
    headers = tus_headers(platform, **{"Upload-Offset": str(upload.offset)})
    if upload.length is None:
        headers["Upload-Defer-Length"] = "1"
    else:
        headers["Upload-Length"] = str(upload.length)
    return Response(status_code=200, headers=headers)


@router.patch("/tus/{upload_id}", include_in_schema=False)
async def tus_patch(upload_id: str, request: Request, platform: Platform = Depends(get_platform)) -> Response:
    """Append at Upload-Offset under an exclusive lock; the last chunk stores the source and starts encoding."""
    check_tus_version(request)
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/offset+octet-stream":
        raise Problem(415, "Unsupported Media Type", "PATCH bodies must be application/offset+octet-stream")
    client_offset = required_header_int(request, "upload-offset")
    content_length = header_int(request, "content-length")
    checksum = decode(service.parse_checksum, request.headers.get("upload-checksum"))
    backend = open_upload_backend(platform)
    db_session = platform.sessions()
    try:
        upload = find_upload(db_session, upload_id)
        if upload.status != "waiting":
            raise Problem(409, "Conflict", "this upload is already complete")
        with backend.lock(upload_id) as handle:
            db_session.refresh(upload)
            declared = requested_length(request, platform)
            if declared is not None:
                set_length(upload, declared)
            try:
                upload.offset = await backend.append(
                    handle, upload=upload, client_offset=client_offset, body=request.stream(),
                    content_length=content_length, checksum=checksum)
            except service.UploadError as exc:
                db_session.rollback()
                raise Problem(exc.status, tus_title(exc.status), str(exc), headers=tus_headers(platform)) from exc
            db_session.commit()
            if upload.offset == upload.length:
                finish(db_session, backend, upload, handle)
        return Response(status_code=204, headers=tus_headers(platform, **{"Upload-Offset": str(upload.offset)}))
    finally:
        db_session.close()


@router.delete("/tus/{upload_id}", status_code=204, include_in_schema=False)
def tus_delete(upload_id: str, request: Request, db_session: Session = Depends(get_session),
               platform: Platform = Depends(get_platform)) -> Response:
    check_tus_version(request)
    upload = find_upload(db_session, upload_id)
    if upload.status != "waiting":
        raise Problem(409, "Conflict", "a completed upload cannot be terminated; delete its asset instead")
    backend = open_upload_backend(platform)
    with backend.lock(upload_id) as handle:
        backend.cancel(handle, db_session=db_session, upload=upload)
    return Response(status_code=204, headers=tus_headers(platform))


def finish(db_session: Session, backend: UploadBackend, upload: Upload, handle: Any) -> None:
    try:
        backend.complete(handle, db_session=db_session, upload=upload)
    except StorageUnavailable as exc:
        db_session.rollback()
        raise Problem(503, "Service Unavailable",
                      "the object store is unavailable; the upload is kept, PATCH 0 bytes to retry") from exc
    except service.UploadError as exc:
        raise Problem(exc.status, tus_title(exc.status), str(exc)) from exc


def find_upload(db_session: Session, upload_id: str) -> Upload:
    upload = db_session.get(Upload, upload_id)
    if upload is None:
        raise Problem(404, "Not Found", f"upload {upload_id!r} does not exist",
                      headers={"Tus-Resumable": TUS_VERSION})
    return upload


def set_length(upload: Upload, length: int) -> None:
    if upload.length is not None and upload.length != length:
        raise Problem(409, "Conflict", f"Upload-Length is already {upload.length}")
    if length < upload.offset:
        raise Problem(409, "Conflict", "Upload-Length is smaller than the bytes already received")
    upload.length = length


def requested_length(request: Request, platform: Platform) -> int | None:
    length = header_int(request, "upload-length")
    if length is not None:
        decode(service.check_length, length, platform.settings.max_upload_bytes)
    return length


def check_tus_version(request: Request) -> None:
    if request.headers.get("tus-resumable") != TUS_VERSION:
        raise Problem(412, "Precondition Failed", f"send Tus-Resumable: {TUS_VERSION}",
                      headers={"Tus-Version": TUS_VERSION})


def required_header_int(request: Request, name: str) -> int:
    value = header_int(request, name)
    if value is None:
        raise Problem(400, "Bad Request", f"the {name} header is required")
    return value


def header_int(request: Request, name: str) -> int | None:
    raw = request.headers.get(name)
    if raw is None:
        return None
    try:
        return parse_non_negative_int(raw, what=name)
    except NotANumber as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc


def decode(function, *args):  # type: ignore[no-untyped-def]
    """Runs a service parser and turns its UploadError into a problem response."""
    try:
        return function(*args)
    except service.UploadError as exc:
        raise Problem(exc.status, tus_title(exc.status), str(exc)) from exc


def tus_title(status: int) -> str:
    return {400: "Bad Request", 409: "Conflict", 410: "Gone", 413: "Content Too Large",
            460: "Checksum Mismatch"}.get(status, "Error")
