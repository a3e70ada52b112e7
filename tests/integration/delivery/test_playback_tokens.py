"""POST /v1/playback-ids/{id}/tokens: what it returns plays at the edge, by URL and by cookies."""

from __future__ import annotations

import time
from datetime import datetime

import httpx
import pytest

from streamstack.api import create_app
from streamstack.platform import build_platform
from tests.conftest import bearer, new_api_key

from .conftest import EDGE, cookie_header

pytestmark = pytest.mark.anyio


@pytest.fixture
async def api(edge_settings, media):  # type: ignore[no-untyped-def]
    """The API exactly as `streamstack up` serves it, on the catalog and store the edge reads."""
    platform = build_platform(edge_settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=create_app(platform)), base_url="http://api.test"
    ) as http:
        yield http
    platform.close()


async def test_token_url_and_cookies_play_at_the_edge(api, client, edge_platform, keys, media):
    response = await api.post(
        f"/v1/playback-ids/{media.signed_id}/tokens",
        json={"ttl_seconds": 120},
        headers=bearer(new_api_key(edge_platform, "write")),
    )
    assert response.status_code == 201
    token = response.json()
    assert token["key_pair_id"] == keys.new_id  # the newest active key with a private half
    assert set(token["cookies"]) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    assert token["url"].startswith(f"{EDGE}/{media.signed_id}.m3u8?Policy=")
    assert abs(datetime.fromisoformat(token["expires_at"]).timestamp() - time.time() - 120) < 5
    assert "CloudFront-Signature=" in response.headers["set-cookie"]
    assert (await client.get(token["url"])).status_code == 200
    segment = await client.get(f"/{media.signed_id}/720p/seg_00000.m4s", headers=cookie_header(token["cookies"]))
    assert segment.status_code == 200


async def test_canned_token_signs_only_the_master(api, client, edge_platform, keys, media):
    response = await api.post(
        f"/v1/playback-ids/{media.signed_id}/tokens",
        json={"policy": "canned"},
        headers=bearer(new_api_key(edge_platform, "write")),
    )
    token = response.json()
    assert "Expires=" in token["url"] and "Policy=" not in token["url"]
    assert (await client.get(token["url"])).status_code == 200


async def test_default_ttl_comes_from_settings(api, edge_platform, keys, media):
    write = bearer(new_api_key(edge_platform, "write"))
    response = await api.post(f"/v1/playback-ids/{media.signed_id}/tokens", headers=write)
    lifetime = datetime.fromisoformat(response.json()["expires_at"]).timestamp() - time.time()
    assert abs(lifetime - edge_platform.settings.playback_token_ttl_seconds) < 5


async def test_errors_are_problems(api, edge_platform, media):
    write = bearer(new_api_key(edge_platform, "write"))
    no_key = await api.post(f"/v1/playback-ids/{media.signed_id}/tokens", json={}, headers=write)
    assert no_key.status_code == 409 and no_key.headers["content-type"] == "application/problem+json"
    missing = await api.post("/v1/playback-ids/nope/tokens", json={}, headers=write)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    read = bearer(new_api_key(edge_platform, "read"))
    read_only = await api.post(f"/v1/playback-ids/{media.signed_id}/tokens", headers=read)
    assert read_only.status_code == 403
    assert (await api.post(f"/v1/playback-ids/{media.signed_id}/tokens")).status_code == 401


async def test_a_private_key_held_in_secrets_manager_signs_tokens_the_edge_accepts(client, edge_platform, media):
    """aws shape: the catalog holds only the public half (`keys signing add`); the private half is a secret."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    from streamstack.keys.signing import add_signing_key, list_signing_keys, public_pem_of, revoke_signing_key
    from streamstack.playback.service import issue_playback_token

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                        serialization.NoEncryption()).decode()
    with edge_platform.sessions() as db:
        for other in list_signing_keys(db_session=db):  # only the secret-held key may sign
            revoke_signing_key(db_session=db, key_id=other.id)
        key = add_signing_key(db_session=db, public_key_pem=public_pem_of(private))
        token = issue_playback_token(db_session=db, edge_base_url=EDGE, playback_id=media.signed_id,
                                     ttl_seconds=60, external_private_keys={key.id: private_pem})
    assert token.key_pair_id == key.id
    assert (await client.get(token.url)).status_code == 200
