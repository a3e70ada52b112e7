"""Idempotency-Key on creates, claimed before the work is done (Stripe's behaviour, the IETF Idempotency-Key draft).

- The first request inserts a claim row; its primary key makes the claim atomic on SQLite and PostgreSQL alike.
  It then does the work and stores its response in the row, so exactly one resource is ever created.
- A later request with the same key and body gets the stored response (`Idempotent-Replayed: true`);
  with another body, a 422.
- A request that arrives while the first is still running gets a 409 with `Retry-After`; it does no work.
- A claim whose request failed is released (the client may retry); one left by a crashed process lapses
  after CLAIM_TIMEOUT.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import and_, delete, or_, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from streamstack.db.base import utcnow
from streamstack.db.idempotency import IdempotencyRecord
from streamstack.errors import Problem

MAX_KEY_LENGTH = 255
CLAIM_TIMEOUT = timedelta(seconds=60)
RETRY_AFTER_SECONDS = 1


def run_idempotent(*, request: Request, db_session: Session, body: Any, status_code: int,
                   create: Callable[[], dict[str, Any]], ttl_seconds: int) -> JSONResponse:
    """Without the header this is a plain create; with it the key is claimed first, then the answer kept."""
    key = request.headers.get("idempotency-key")
    if key is None:
        return JSONResponse(create(), status_code=status_code)
    if not key or len(key) > MAX_KEY_LENGTH:
        raise Problem(400, "Bad Request", f"Idempotency-Key must be 1-{MAX_KEY_LENGTH} characters")
    scope_key = f"{getattr(request.state, 'api_key_id', '-')}:{request.url.path}:{key}"
    request_hash = hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()
    answer = _claim(db_session, scope_key, request_hash, ttl_seconds)
    if answer is not None:
        return answer
    try:
        result = create()
    except BaseException:
        db_session.rollback()
        _release(db_session, scope_key)
        raise
    db_session.execute(update(IdempotencyRecord).where(IdempotencyRecord.scope_key == scope_key)
                       .values(status_code=status_code, body=result))
    db_session.commit()
    return JSONResponse(result, status_code=status_code)


def _claim(db_session: Session, scope_key: str, request_hash: str, ttl_seconds: int) -> JSONResponse | None:
    """None when this request now holds the key; otherwise the answer the holder's row gives."""
    for _ in range(2):  # the holder's row may lapse between our insert and our read: claim once more
        _drop_lapsed(db_session, scope_key, ttl_seconds)
        db_session.add(IdempotencyRecord(scope_key=scope_key, request_hash=request_hash, created_at=utcnow()))
        try:
            db_session.commit()
            return None
        except IntegrityError:
            db_session.rollback()
        record = db_session.get(IdempotencyRecord, scope_key, populate_existing=True)
        if record is not None:
            return _answer_from(record, request_hash)
    raise Problem(409, "Conflict", "this Idempotency-Key is being claimed by another request; retry",
                  headers={"Retry-After": str(RETRY_AFTER_SECONDS)})


def _answer_from(record: IdempotencyRecord, request_hash: str) -> JSONResponse:
    if record.request_hash != request_hash:
        raise Problem(422, "Unprocessable Content", "this Idempotency-Key was used with a different request body")
    if record.status_code is None:
        raise Problem(409, "Conflict", "a request with this Idempotency-Key is still in progress; retry",
                      headers={"Retry-After": str(RETRY_AFTER_SECONDS)})
    return JSONResponse(record.body, status_code=record.status_code, headers={"Idempotent-Replayed": "true"})


def _drop_lapsed(db_session: Session, scope_key: str, ttl_seconds: int) -> None:
    """Forget a response older than the TTL, and a claim whose holder never finished."""
    now = utcnow()
    db_session.execute(delete(IdempotencyRecord).where(
        IdempotencyRecord.scope_key == scope_key,
        or_(IdempotencyRecord.created_at < now - timedelta(seconds=ttl_seconds),
            and_(IdempotencyRecord.status_code.is_(None), IdempotencyRecord.created_at < now - CLAIM_TIMEOUT))))
    db_session.commit()


def _release(db_session: Session, scope_key: str) -> None:
    """The work failed: free the key so that a retry can do it."""
    db_session.execute(delete(IdempotencyRecord).where(IdempotencyRecord.scope_key == scope_key,
                                                       IdempotencyRecord.status_code.is_(None)))
    db_session.commit()
