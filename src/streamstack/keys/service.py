"""API keys: created once, shown once, stored as SHA-256 hashes, checked on every request."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from streamstack.db.base import new_id, utcnow
from streamstack.keys.models import SCOPES, ApiKey

KEY_PREFIX = "ssk_"


@dataclass(frozen=True)
class CreatedKey:
    id: str
    name: str
    secret: str
    scopes: list[str]


def hash_secret(secret: str) -> str:
    """Keys carry 256 random bits, so a plain SHA-256 is enough and keeps lookups O(1)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_key(*, db_session: Session, name: str, scopes: list[str] | None = None) -> CreatedKey:
    scopes = scopes or ["read", "write"]
    unknown = set(scopes) - set(SCOPES)
    if unknown:
        raise ValueError(f"unknown scopes: {', '.join(sorted(unknown))}; choose from {', '.join(SCOPES)}")
    secret = KEY_PREFIX + secrets.token_urlsafe(32)
    key = ApiKey(id=new_id("key_"), name=name, prefix=secret[:12], secret_hash=hash_secret(secret), scopes=scopes)
    db_session.add(key)
    db_session.commit()
    return CreatedKey(key.id, name, secret, scopes)


def authenticate(*, db_session: Session, secret: str) -> ApiKey | None:
    key = db_session.scalar(select(ApiKey).where(ApiKey.secret_hash == hash_secret(secret)))
    if key is None or key.revoked_at is not None:
        return None
    return key


def list_api_keys(*, db_session: Session) -> list[ApiKey]:
    return list(db_session.scalars(select(ApiKey).order_by(ApiKey.created_at)))


def revoke_api_key(*, db_session: Session, key_id: str) -> bool:
    key = db_session.get(ApiKey, key_id)
    if key is None:
        return False
    key.revoked_at = utcnow()
    db_session.commit()
    return True


def has_scope(key: ApiKey, scope: str) -> bool:
    """admin implies every scope, write implies read."""
    granted = set(key.scopes)
    return "admin" in granted or scope in granted or (scope == "read" and "write" in granted)
