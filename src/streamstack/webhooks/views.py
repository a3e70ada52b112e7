"""REST routes for webhook endpoints and their delivery log."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import JSONResponse
from pydantic import AnyHttpUrl, BaseModel, Field
from sqlalchemy.orm import Session

from streamstack.db.pagination import MAX_PAGE
from streamstack.deps import get_platform, get_session
from streamstack.errors import Problem, not_found
from streamstack.idempotency import run_idempotent
from streamstack.keys.auth import require_scope
from streamstack.outbound import WEBHOOK, UrlRefused, check_url
from streamstack.platform import Platform
from streamstack.timestamps import UtcDateTime
from streamstack.webhooks import service
from streamstack.webhooks.models import WebhookDelivery, WebhookEndpoint

router = APIRouter(prefix="/v1/webhooks", tags=["webhooks"])


class WebhookCreate(BaseModel):
    url: AnyHttpUrl = Field(..., description="Where events are POSTed.")
    event_types: list[str] = Field(..., min_length=1, max_length=20,
                                   description="Event types to receive, e.g. video.asset.ready; * for all.")
    secret: str | None = Field(None, max_length=128,
                               description="Standard Webhooks secret (whsec_ + base64); generated when absent.")


class WebhookOut(BaseModel):
    id: str
    url: str
    event_types: list[str]
    created_at: UtcDateTime


class WebhookCreated(WebhookOut):
    secret: str = Field(..., description="Shown only in this response: keep it to verify signatures.")


class WebhookList(BaseModel):
    data: list[WebhookOut]
    next_cursor: str | None


class DeliveryOut(BaseModel):
    id: str
    event_id: str
    event_type: str
    status: str
    attempts: int
    next_attempt_at: UtcDateTime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: UtcDateTime | None
    created_at: UtcDateTime


class DeliveryList(BaseModel):
    data: list[DeliveryOut]
    next_cursor: str | None


@router.post("", status_code=201, response_model=WebhookCreated, dependencies=[Depends(require_scope("write"))])
def create_webhook(body: WebhookCreate, request: Request, db_session: Session = Depends(get_session),
                   platform: Platform = Depends(get_platform)) -> JSONResponse:
    """The secret is returned once, here; later reads never show it. Private targets are refused (SSRF)."""
    try:
        check_url(str(body.url), platform.settings, must_resolve=False, purpose=WEBHOOK)
    except UrlRefused as exc:
        raise Problem(422, "Unprocessable Content", str(exc)) from exc

    def create() -> dict[str, Any]:
        try:
            endpoint = service.create_endpoint(db_session=db_session, url=str(body.url),
                                               event_types=body.event_types, secret=body.secret)
        except service.InvalidWebhook as exc:
            raise Problem(422, "Unprocessable Content", str(exc)) from exc
        db_session.commit()
        return WebhookCreated(**endpoint_out(endpoint).model_dump(), secret=endpoint.secret).model_dump(mode="json")

    return run_idempotent(request=request, db_session=db_session, body=body.model_dump(mode="json"),
                          status_code=201, create=create, ttl_seconds=platform.settings.idempotency_ttl_seconds)


@router.get("", response_model=WebhookList, dependencies=[Depends(require_scope("read"))])
def list_webhooks(limit: int = Query(25, ge=1, le=MAX_PAGE), cursor: str | None = None,
                  db_session: Session = Depends(get_session)) -> WebhookList:
    try:
        rows, next_cursor = service.list_endpoints(db_session=db_session, limit=limit, cursor=cursor)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    return WebhookList(data=[endpoint_out(e) for e in rows], next_cursor=next_cursor)


@router.get("/{webhook_id}", response_model=WebhookOut, dependencies=[Depends(require_scope("read"))])
def get_webhook(webhook_id: str, db_session: Session = Depends(get_session)) -> WebhookOut:
    return endpoint_out(existing_endpoint(db_session, webhook_id))


@router.delete("/{webhook_id}", status_code=204, dependencies=[Depends(require_scope("write"))])
def delete_webhook(webhook_id: str, db_session: Session = Depends(get_session)) -> Response:
    service.delete_endpoint(db_session=db_session, endpoint=existing_endpoint(db_session, webhook_id))
    return Response(status_code=204)


@router.get("/{webhook_id}/deliveries", response_model=DeliveryList, dependencies=[Depends(require_scope("read"))])
def list_deliveries(webhook_id: str, limit: int = Query(25, ge=1, le=MAX_PAGE), cursor: str | None = None,
                    db_session: Session = Depends(get_session)) -> DeliveryList:
    existing_endpoint(db_session, webhook_id)
    try:
        rows, next_cursor = service.list_deliveries(db_session=db_session, endpoint_id=webhook_id, limit=limit,
                                                    cursor=cursor)
    except ValueError as exc:
        raise Problem(400, "Bad Request", str(exc)) from exc
    return DeliveryList(data=[delivery_out(d, t) for d, t in rows], next_cursor=next_cursor)


def existing_endpoint(db_session: Session, webhook_id: str) -> WebhookEndpoint:
    endpoint = service.get_endpoint(db_session=db_session, endpoint_id=webhook_id)
    if endpoint is None:
        raise not_found("webhook", webhook_id)
    return endpoint


def endpoint_out(endpoint: WebhookEndpoint) -> WebhookOut:
    return WebhookOut(id=endpoint.id, url=endpoint.url, event_types=list(endpoint.event_types),
                      created_at=endpoint.created_at)


def delivery_out(delivery: WebhookDelivery, event_type: str) -> DeliveryOut:
    return DeliveryOut(
        id=delivery.id, event_id=delivery.event_id, event_type=event_type, status=delivery.status,
        attempts=delivery.attempts, next_attempt_at=delivery.next_attempt_at,
        last_status_code=delivery.last_status_code, last_error=delivery.last_error,
        delivered_at=delivery.delivered_at, created_at=delivery.created_at,
    )
