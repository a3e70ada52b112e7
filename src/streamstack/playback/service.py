"""Playback tokens: a ready-to-play signed URL plus CloudFront signed cookies for one playback id."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from sqlalchemy.orm import Session

from streamstack.assets.models import PlaybackId
from streamstack.keys.signing import token_signing_key
from streamstack.live.models import LiveStream
from streamstack.live.service import PlaybackPaths, managed_playback
from streamstack.settings import Settings
from streamstack.signed_urls import sign_cookies, sign_url

TokenPolicy = Literal["canned", "custom"]


class PlaybackIdNotFound(LookupError):
    """No playback id with that id."""


class NoSigningKey(RuntimeError):
    """No active signing key holds a private key, so nothing can be signed."""


@dataclass(frozen=True)
class PlaybackToken:
    url: str
    cookies: dict[str, str]
    expires_at: int
    key_pair_id: str


def playback_resource(edge_base_url: str, playback_id: str) -> str:
    """Covers the master (`/{id}.m3u8`) and everything below `/{id}/`, so HLS child requests are authorised."""
    return f"{edge_base_url}/{playback_id}*"


def issue_playback_token(
    *,
    db_session: Session,
    edge_base_url: str,
    playback_id: str,
    ttl_seconds: int,
    policy: TokenPolicy = "custom",
    now: float | None = None,
    external_private_keys: Mapping[str, str] | None = None,
    settings: Settings | None = None,
) -> PlaybackToken:
    """Custom policy (default): the URL's signature also authorises child URIs; canned: the master URL only.

    Cookies are always custom-policy with the wildcard resource: a canned cookie could not cover the segments.
    A managed live stream's token is for its endpoint's path under /out/v1/ (CloudFront checks it there).
    """
    row = db_session.get(PlaybackId, playback_id)
    if row is None:
        raise PlaybackIdNotFound(playback_id)
    external = external_private_keys or {}
    key = token_signing_key(db_session=db_session, external_private_keys=external.keys())
    private_key_pem = key and (key.private_key_pem or external.get(key.id))
    if key is None or not private_key_pem:
        raise NoSigningKey("create one with `streamstack keys signing create`")
    expires_at = int(now if now is not None else time.time()) + ttl_seconds
    master = f"{edge_base_url}/{playback_id}.m3u8"
    resource = playback_resource(edge_base_url, playback_id)
    if (managed := _managed_paths(db_session, row, settings)) is not None:
        master, resource = f"{edge_base_url}{managed.master}", f"{edge_base_url}{managed.resource}"
    url = sign_url(master, kind=policy, resource=None if policy == "canned" else resource, key_pair_id=key.id,
                   private_key_pem=private_key_pem, date_less_than=expires_at)
    cookies = sign_cookies(resource, key_pair_id=key.id, private_key_pem=private_key_pem, date_less_than=expires_at)
    return PlaybackToken(url, cookies, expires_at, key.id)


def _managed_paths(db_session: Session, row: PlaybackId, settings: Settings | None) -> PlaybackPaths | None:
    """The endpoint paths of a managed live stream's playback id (live_encoder=medialive)."""
    if settings is None or row.live_stream_id is None:
        return None
    stream = db_session.get(LiveStream, row.live_stream_id)
    return managed_playback(stream, settings) if stream is not None else None
