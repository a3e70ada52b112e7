"""REST route that issues signed playback tokens (URL + cookies) for the edge or CloudFront."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

from fastapi import APIRouter, Depends, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.orm import Session

from streamstack.deps import get_platform, get_session
from streamstack.errors import Problem, not_found
from streamstack.keys.auth import require_scope
from streamstack.platform import Platform
from streamstack.playback.service import NoSigningKey, PlaybackIdNotFound, issue_playback_token
from streamstack.secrets import signing_private_keys
from streamstack.timestamps import UtcDateTime

router = APIRouter(prefix="/v1/playback-ids", tags=["playback"])
MAX_TTL_SECONDS = 7 * 24 * 3600


class TokenRequest(BaseModel):
    ttl_seconds: int | None = Field(None, ge=1, le=MAX_TTL_SECONDS, description="Lifetime; default from settings.")
    policy: Literal["canned", "custom"] = Field(
        "custom", description="custom: the URL also authorises child URIs (plain HLS clients); canned: master only."
    )


class TokenCookies(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    policy: str = Field(..., alias="CloudFront-Policy")
    signature: str = Field(..., alias="CloudFront-Signature")
    key_pair_id: str = Field(..., alias="CloudFront-Key-Pair-Id")


class TokenOut(BaseModel):
    url: str
    cookies: TokenCookies
    expires_at: UtcDateTime
    key_pair_id: str


@router.post(
    "/{playback_id}/tokens",
    status_code=201,
    response_model=TokenOut,
    response_model_by_alias=True,
    dependencies=[Depends(require_scope("write"))],
)
def create_token(
    playback_id: str,
    response: Response,
    body: TokenRequest | None = None,
    db_session: Session = Depends(get_session),
    platform: Platform = Depends(get_platform),
) -> TokenOut:
    """Also sets the cookies, so a browser console on the same host (any port) plays at once."""
    request = body or TokenRequest()
    settings = platform.settings
    try:
        token = issue_playback_token(
            db_session=db_session,
            edge_base_url=settings.edge_base_url,
            playback_id=playback_id,
            ttl_seconds=request.ttl_seconds or settings.playback_token_ttl_seconds,
            policy=request.policy,
            external_private_keys=external_signing_keys(platform),
            settings=settings,
        )
    except PlaybackIdNotFound as exc:
        raise not_found("playback id", playback_id) from exc
    except NoSigningKey as exc:
        raise Problem(409, "Conflict", f"no active signing key with a private key: {exc}") from exc
    expires_at = datetime.fromtimestamp(token.expires_at, UTC)
    for name, value in token.cookies.items():
        response.set_cookie(name, value, expires=expires_at, path="/", httponly=True, samesite="lax")
    return TokenOut(
        url=token.url,
        cookies=TokenCookies.model_validate(token.cookies),
        expires_at=expires_at,
        key_pair_id=token.key_pair_id,
    )


def external_signing_keys(platform: Platform) -> dict[str, str]:
    """Private keys kept in Secrets Manager (aws backend) rather than in the catalog."""
    if platform.settings.secrets_backend != "aws":
        return {}
    return signing_private_keys(platform.secrets)
