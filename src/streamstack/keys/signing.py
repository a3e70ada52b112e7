"""Playback signing keys, managed like a CloudFront key group: several active at once for rotation."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Collection
from dataclasses import dataclass

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from sqlalchemy import ColumnElement, or_, select
from sqlalchemy.orm import Session

from streamstack.db.base import utcnow
from streamstack.keys.models import SigningKey

KEY_BITS = 2048


@dataclass(frozen=True)
class CreatedSigningKey:
    id: str
    name: str | None
    public_key_pem: str
    private_key_pem: str


def new_key_pair_id() -> str:
    """Base32 ids shaped like CloudFront's (K2JCJMDEHXQW5F): safe unescaped in queries and cookies."""
    return "K" + base64.b32encode(secrets.token_bytes(10)).decode()[:13]


def public_pem_of(private_key: rsa.RSAPrivateKey) -> str:
    return (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def normalize_public_key(pem: str) -> str:
    """Accept PKCS#1 or SPKI RSA keys of at least 2048 bits (CloudFront's rule); store SPKI."""
    try:
        key = serialization.load_pem_public_key(pem.encode())
    except ValueError as exc:
        raise ValueError("not a PEM public key") from exc
    if not isinstance(key, rsa.RSAPublicKey) or key.key_size < KEY_BITS:
        raise ValueError(f"signing keys must be RSA keys of at least {KEY_BITS} bits")
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()


def create_signing_key(*, db_session: Session, name: str | None = None) -> CreatedSigningKey:
    """Generate an RSA key pair; the private key is kept so the API can issue playback tokens."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    key = SigningKey(
        id=new_key_pair_id(),
        name=name,
        public_key_pem=public_pem_of(private_key),
        private_key_pem=private_pem,
    )
    db_session.add(key)
    db_session.commit()
    return CreatedSigningKey(key.id, name, key.public_key_pem, private_pem)


def add_signing_key(*, db_session: Session, public_key_pem: str, name: str | None = None) -> SigningKey:
    """Register a public key whose private half lives elsewhere (a signer service, CloudFront's key group)."""
    key = SigningKey(id=new_key_pair_id(), name=name, public_key_pem=normalize_public_key(public_key_pem))
    db_session.add(key)
    db_session.commit()
    return key


def list_signing_keys(*, db_session: Session) -> list[SigningKey]:
    return list(db_session.scalars(select(SigningKey).order_by(SigningKey.created_at)))


def revoke_signing_key(*, db_session: Session, key_id: str) -> bool:
    """False when the key is unknown; revoking twice keeps the first revocation time."""
    key = db_session.get(SigningKey, key_id)
    if key is None:
        return False
    if key.revoked_at is None:
        key.revoked_at = utcnow()
        db_session.commit()
    return True


def active_public_keys(*, db_session: Session) -> dict[str, str]:
    """Key-Pair-Id -> public PEM of every unrevoked key: what the edge accepts."""
    rows = db_session.execute(select(SigningKey.id, SigningKey.public_key_pem).where(SigningKey.revoked_at.is_(None)))
    return {key_id: pem for key_id, pem in rows}


def token_signing_key(*, db_session: Session, external_private_keys: Collection[str] = ()) -> SigningKey | None:
    """The newest active key whose private half we hold (in the catalog, or in Secrets Manager by key id).

    New tokens move to a new key as soon as it exists.
    """
    has_private_half: ColumnElement[bool] = SigningKey.private_key_pem.is_not(None)
    if external_private_keys:
        has_private_half = or_(has_private_half, SigningKey.id.in_(list(external_private_keys)))
    return db_session.scalar(
        select(SigningKey)
        .where(SigningKey.revoked_at.is_(None), has_private_half)
        .order_by(SigningKey.created_at.desc(), SigningKey.id.desc())
        .limit(1)
    )
