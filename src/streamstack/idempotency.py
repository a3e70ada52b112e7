"""Idempotency-Key on creates: a retried request gets the first response, a reused key with a new body a 422."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from streamstack.db.base import utcnow
from streamstack.db.idempotency import IdempotencyRecord
from streamstack.errors import Problem

MAX_KEY_LENGTH = 255


def run_idempotent(*, request: Request, db_session: Session, body: Any, status_code: int,
                   create: Callable[[], dict[str, Any]], ttl_seconds: int) -> JSONResponse:
    """Without the header this is a plain create; with it the answer is stored beside the work it did."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return JSONResponse(create(), status_code=status_code)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Problem(400, "Bad Request", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
    scope_key = f"{getattr(request.state, 'api_key_id', '-')}:{request.url.path}:{key}"
    request_hash = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    replay = _stored_response(db_session, scope_key, request_hash, ttl_seconds)
    if replay is not None:
        return replay
    result = create()
    db_session.add(IdempotencyRecord(scope_key=scope_key, request_hash=request_hash, status_code=status_code,
                                     body=result))
    try:
        db_session.commit()
    except IntegrityError:
        db_session.rollback()
        replay = _stored_response(db_session, scope_key, request_hash, ttl_seconds)
        if replay is not None:
            return replay
        raise
    return JSONResponse(result, status_code=status_code)


def _stored_response(db_session: Session, scope_key: str, request_hash: str,
                     ttl_seconds: int) -> JSONResponse | None:
    record = db_session.get(IdempotencyRecord, scope_key)
    if record is None:
        return None
    created = record.created_at if record.created_at.tzinfo else record.created_at.replace(tzinfo=utcnow().tzinfo)
    if created < utcnow() - timedelta(seconds=ttl_seconds):
        db_session.delete(record)
        db_session.commit()
        return None
    if record.request_hash != request_hash:
        raise Problem(422, "Unprocessable Content", "this Idempotency-Key was used with a different request body")
    return JSONResponse(record.body, status_code=record.status_code, headers={"Idempotent-Replayed": "true"})
