"""Bearer API-key authentication and scope checks as FastAPI dependencies."""

from __future__ import annotations

from collections.abc import Callable

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from streamstack.deps import get_session
from streamstack.errors import Problem
from streamstack.keys.models import ApiKey
from streamstack.keys.service import authenticate, has_scope

CHALLENGE = {"WWW-Authenticate": 'Bearer realm="streamstack"'}


def bearer_secret(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def current_key(request: Request, db_session: Session = Depends(get_session)) -> ApiKey:
    secret = bearer_secret(request)
    if secret is None:
        raise Problem(401, "Unauthorized", "send an API key as 'Authorization: Bearer <key>'", headers=CHALLENGE)
    key = authenticate(db_session=db_session, secret=secret)
    if key is None:
        raise Problem(401, "Unauthorized", "the API key is unknown or revoked", headers=CHALLENGE)
    request.state.api_key_id = key.id
    return key


def require_scope(scope: str) -> Callable[..., ApiKey]:
    """Dependency factory: 403 when the key lacks the scope the route needs."""

    def check(key: ApiKey = Depends(current_key)) -> ApiKey:
        if not has_scope(key, scope):
            raise Problem(403, "Forbidden", f"this API key lacks the {scope!r} scope")
        return key

    return check
