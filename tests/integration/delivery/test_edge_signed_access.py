"""Signed playback at the edge: the CloudFront signature matrix, botocore's signer, and plain-HLS query rewriting."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from urllib.parse import urljoin

import pytest
from botocore.signers import CloudFrontSigner

from streamstack.signed_urls import (
    build_policy,
    cloudfront_b64encode,
    rsa_sign,
    sign,
    sign_cookies,
    sign_url,
    split_signed_query,
)

from .conftest import EDGE, cookie_header

pytestmark = pytest.mark.anyio

CASES = ["valid", "tampered", "expired", "wrong-key", "wrong-path", "revoked"]


def _signer(keys, case: str) -> tuple[str, str]:
    """(Key-Pair-Id, private PEM) for a case: a stranger's key under a registered id, or the revoked key."""
    if case == "wrong-key":
        return keys.new_id, keys.stranger_pem
    if case == "revoked":
        return keys.revoked_id, keys.revoked_pem
    return keys.new_id, keys.new_pem


def _tamper(credentials):  # type: ignore[no-untyped-def]
    """Change what was signed, keep the signature: a later expiry, or a policy for every resource."""
    if credentials.kind == "canned":
        return type(credentials)(
            credentials.key_pair_id, credentials.signature, expires=str(int(credentials.expires) + 86400)
        )
    wider = build_policy(f"{EDGE}/*", int(time.time()) + 86400)
    return type(credentials)(
        credentials.key_pair_id, credentials.signature, policy=cloudfront_b64encode(wider.encode())
    )


def _credentials(kind: str, case: str, keys, media):  # type: ignore[no-untyped-def]
    key_id, pem = _signer(keys, case)
    expires = int(time.time()) + (-60 if case == "expired" else 600)
    playback = media.other_signed_id if case == "wrong-path" else media.signed_id
    if kind == "canned":
        url = f"{EDGE}/{playback}.m3u8" if case != "wrong-path" else f"{EDGE}/{media.signed_id}/720p/index.m3u8"
        policy = build_policy(url, expires)
    else:
        policy = build_policy(f"{EDGE}/{playback}*", expires)
    credentials = sign(policy, key_pair_id=key_id, private_key_pem=pem, kind=kind)  # type: ignore[arg-type]
    return _tamper(credentials) if case == "tampered" else credentials


@pytest.mark.parametrize("case", CASES)
@pytest.mark.parametrize("transport", ["url", "cookie"])
@pytest.mark.parametrize("kind", ["canned", "custom"])
async def test_signature_matrix(client, keys, media, kind, transport, case):
    credentials = _credentials(kind, case, keys, media)
    path = f"/{media.signed_id}.m3u8"
    if transport == "url":
        response = await client.get(f"{path}?{credentials.as_query()}")
    else:
        response = await client.get(path, headers=cookie_header(credentials.as_cookies()))
    if case == "valid":
        assert response.status_code == 200
        assert response.text.startswith("#EXTM3U")
        # CloudFront may keep it (its cache key holds the signature), for a minute at most.
        cache_control = response.headers["cache-control"]
        assert cache_control.startswith("public") and "s-maxage=" in cache_control
    else:
        assert response.status_code == 403
        assert response.text == "Forbidden\n"
        assert response.headers["cache-control"] == "no-store"


async def test_unsigned_request_for_signed_playback_is_403_and_public_needs_nothing(client, media):
    assert (await client.get(f"/{media.signed_id}.m3u8")).status_code == 403
    assert (await client.get(f"/{media.signed_id}/720p/seg_00000.m4s")).status_code == 403
    assert (await client.get(f"/{media.public_id}.m3u8")).status_code == 200


async def test_both_active_keys_are_accepted_during_rotation(client, keys, media):
    for key_id, pem in ((keys.old_id, keys.old_pem), (keys.new_id, keys.new_pem)):
        url = sign_url(
            f"{EDGE}/{media.signed_id}.m3u8",
            key_pair_id=key_id,
            private_key_pem=pem,
            date_less_than=int(time.time()) + 60,
            resource=f"{EDGE}/{media.signed_id}*",
        )
        assert (await client.get(url)).status_code == 200


async def test_unknown_key_pair_id_is_403(client, keys, media):
    url = sign_url(
        f"{EDGE}/{media.signed_id}.m3u8",
        key_pair_id="KUNKNOWN0000000",
        private_key_pem=keys.new_pem,
        date_less_than=int(time.time()) + 60,
    )
    assert (await client.get(url)).status_code == 403


def _botocore_signer(key_id: str, pem: str) -> CloudFrontSigner:
    return CloudFrontSigner(key_id, lambda message: rsa_sign(pem, message))


async def test_botocore_canned_url_is_accepted(client, keys, media):
    signer = _botocore_signer(keys.old_id, keys.old_pem)
    url = signer.generate_presigned_url(
        f"{EDGE}/{media.signed_id}/720p/seg_00000.m4s", date_less_than=datetime.now(UTC) + timedelta(minutes=5)
    )
    assert (await client.get(url)).status_code == 200


async def test_botocore_custom_policy_url_with_wildcard_ip_and_start_is_accepted(client, keys, media):
    signer = _botocore_signer(keys.new_id, keys.new_pem)
    now = datetime.now(UTC)
    policy = signer.build_policy(
        f"{EDGE}/{media.signed_id}*",
        now + timedelta(minutes=5),
        date_greater_than=now - timedelta(minutes=1),
        ip_address="127.0.0.0/8",
    )
    url = signer.generate_presigned_url(f"{EDGE}/{media.signed_id}/720p/index.m3u8", policy=policy)
    assert (await client.get(url)).status_code == 200


async def test_custom_policy_conditions_are_enforced(client, keys, media):
    signer = _botocore_signer(keys.new_id, keys.new_pem)
    now = datetime.now(UTC)
    resource = f"{EDGE}/{media.signed_id}*"
    not_yet = signer.build_policy(resource, now + timedelta(minutes=5), date_greater_than=now + timedelta(minutes=1))
    other_network = signer.build_policy(resource, now + timedelta(minutes=5), ip_address="203.0.113.7")
    for policy in (not_yet, other_network):
        url = signer.generate_presigned_url(f"{EDGE}/{media.signed_id}.m3u8", policy=policy)
        assert (await client.get(url)).status_code == 403


async def test_our_signed_url_verifies_like_botocore_builds_it(keys, media):
    """Same bytes as botocore: the policy text and the URL layout are identical."""
    signer = _botocore_signer(keys.new_id, keys.new_pem)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    url = f"{EDGE}/{media.signed_id}.m3u8?max_resolution=720p"
    ours = sign_url(
        url,
        key_pair_id=keys.new_id,
        private_key_pem=keys.new_pem,
        date_less_than=int(expires.timestamp()),
        kind="canned",
    )
    assert ours == signer.generate_presigned_url(url, date_less_than=expires)
    policy = signer.build_policy(f"{EDGE}/{media.signed_id}*", expires, ip_address="10.0.0.1")
    assert policy == build_policy(f"{EDGE}/{media.signed_id}*", int(expires.timestamp()), ip_address="10.0.0.1")


async def test_signed_query_is_propagated_to_child_uris_for_plain_hls_clients(client, keys, media):
    """A client that keeps no cookies follows master -> rendition -> segment with the query alone."""
    url = sign_url(
        f"{EDGE}/{media.signed_id}.m3u8",
        key_pair_id=keys.new_id,
        private_key_pem=keys.new_pem,
        date_less_than=int(time.time()) + 300,
        resource=f"{EDGE}/{media.signed_id}*",
    )
    credentials, _ = split_signed_query(url.partition("?")[2])
    master = await client.get(url)
    assert master.status_code == 200
    assert f"{media.signed_id}/720p/index.m3u8?{credentials.as_query()}" in master.text
    assert f'URI="{media.signed_id}/audio/index.m3u8?{credentials.as_query()}"' in master.text
    rendition_url = urljoin(url, next(line for line in master.text.splitlines() if line.startswith(media.signed_id)))
    rendition = await client.get(rendition_url)
    assert rendition.status_code == 200
    assert f"seg_00000.m4s?{credentials.as_query()}" in rendition.text
    assert f'URI="init.mp4?{credentials.as_query()}"' in rendition.text
    segment = await client.get(urljoin(rendition_url, f"seg_00000.m4s?{credentials.as_query()}"))
    assert segment.status_code == 200 and segment.headers["content-type"] == "video/iso.segment"


async def test_canned_signed_master_does_not_leak_its_signature_into_children(client, keys, media):
    url = sign_url(
        f"{EDGE}/{media.signed_id}.m3u8",
        key_pair_id=keys.new_id,
        private_key_pem=keys.new_pem,
        date_less_than=int(time.time()) + 300,
        kind="canned",
    )
    master = await client.get(url)
    assert master.status_code == 200 and "Signature=" not in master.text


async def test_wildcard_cookies_authorise_every_child_request(client, keys, media):
    cookies = sign_cookies(
        f"{EDGE}/{media.signed_id}*",
        key_pair_id=keys.new_id,
        private_key_pem=keys.new_pem,
        date_less_than=int(time.time()) + 300,
    )
    assert set(cookies) == {"CloudFront-Policy", "CloudFront-Signature", "CloudFront-Key-Pair-Id"}
    for path in (".m3u8", "/720p/index.m3u8", "/720p/init.mp4", "/720p/seg_00001.m4s", "/thumbnail.jpg"):
        response = await client.get(f"/{media.signed_id}{path}", headers=cookie_header(cookies))
        assert response.status_code == 200, path
        assert "Signature=" not in response.text if path.endswith(".m3u8") else True
    assert (await client.get(f"/{media.other_signed_id}.m3u8", headers=cookie_header(cookies))).status_code == 403


async def test_sha256_hash_algorithm_is_accepted(client, keys, media):
    policy = build_policy(f"{EDGE}/{media.signed_id}*", int(time.time()) + 60)
    credentials = sign(
        policy, key_pair_id=keys.new_id, private_key_pem=keys.new_pem, kind="custom", hash_algorithm="SHA256"
    )
    assert "Hash-Algorithm=SHA256" in credentials.as_query()
    assert (await client.get(f"/{media.signed_id}.m3u8?{credentials.as_query()}")).status_code == 200


async def test_revocation_is_seen_after_the_key_cache_expires(edge_platform, keys, media):
    import httpx

    from streamstack.delivery.app import create_edge_app
    from streamstack.keys.signing import revoke_signing_key

    edge = create_edge_app(edge_platform, catalog_ttl=0.0)
    url = sign_url(
        f"{EDGE}/{media.signed_id}.m3u8",
        key_pair_id=keys.old_id,
        private_key_pem=keys.old_pem,
        date_less_than=int(time.time()) + 60,
    )
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
        assert (await http.get(url)).status_code == 200
        with edge_platform.sessions() as session:
            revoke_signing_key(db_session=session, key_id=keys.old_id)
        assert (await http.get(url)).status_code == 403


def test_policy_is_compact_json_in_botocore_order():
    policy = build_policy("https://d/x*", 100, date_greater_than=50, ip_address="1.2.3.4")
    assert json.loads(policy)["Statement"][0]["Condition"]["IpAddress"] == {"AWS:SourceIp": "1.2.3.4/32"}
    assert policy.startswith('{"Statement":[{"Resource":"https://d/x*","Condition":{"DateLessThan"')


B_PATHS = (".m3u8", "/720p/index.m3u8", "/720p/seg_00000.m4s", "/thumbnail.jpg")


def _wildcard_credentials(keys, base: str, playback_id: str):  # type: ignore[no-untyped-def]
    policy = build_policy(f"{base}/{playback_id}*", int(time.time()) + 300)
    return sign(policy, key_pair_id=keys.new_id, private_key_pem=keys.new_pem, kind="custom")


@pytest.mark.parametrize("transport", ["url", "cookie"])
async def test_a_token_for_one_playback_id_never_opens_another_through_the_host_header(client, keys, media, transport):
    """Host `<edge>/<A>` once made `<edge>/<A>/<B>.m3u8` the URL checked against A's wildcard `<edge>/<A>*`."""
    a, b = media.signed_id, media.other_signed_id
    credentials = _wildcard_credentials(keys, EDGE, a)

    async def get(path: str, host: str):  # type: ignore[no-untyped-def]
        if transport == "url":
            return await client.get(f"{path}?{credentials.as_query()}", headers={"Host": host})
        return await client.get(path, headers={"Host": host, **cookie_header(credentials.as_cookies())})

    for suffix in B_PATHS:
        for host in (f"edge.test/{a}", f"edge.test/{a}/x", f"edge.test/{a}?", f"edge.test/{a}#"):
            response = await get(f"/{b}{suffix}", host)
            assert response.status_code == 400, (suffix, host)
        assert (await get(f"/{b}{suffix}", "edge.test")).status_code == 403, suffix
        assert (await get(f"/{a}{suffix}", "edge.test")).status_code == 200, suffix


async def test_a_token_for_another_base_url_is_refused_whatever_the_host_header(client, keys, media):
    """Only the configured public base counts: signing for the Host a client chooses proves nothing."""
    credentials = _wildcard_credentials(keys, "http://attacker.test", media.signed_id)
    for host in ("attacker.test", "edge.test"):
        response = await client.get(f"/{media.signed_id}.m3u8?{credentials.as_query()}", headers={"Host": host})
        assert response.status_code == 403, host


@pytest.mark.parametrize("host", ["edge.test", "edge.test:8443", "127.0.0.1:8001", "[::1]:8001", "edge_1.internal"])
async def test_plain_hosts_are_served(client, keys, media, host):
    credentials = _wildcard_credentials(keys, EDGE, media.signed_id)
    response = await client.get(f"/{media.signed_id}.m3u8?{credentials.as_query()}", headers={"Host": host})
    assert response.status_code == 200


ARABIC_INDIC = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@pytest.mark.parametrize("transport", ["url", "cookie"])
async def test_expires_written_in_other_digits_or_too_long_is_refused_not_a_500(client, keys, media, transport):
    url = sign_url(f"{EDGE}/{media.signed_id}.m3u8", key_pair_id=keys.new_id, private_key_pem=keys.new_pem,
                   date_less_than=int(time.time()) + 300, kind="canned")
    credentials, _ = split_signed_query(url.partition("?")[2])
    assert credentials is not None and credentials.expires is not None
    forms = [credentials.expires.translate(ARABIC_INDIC), "²", f"{credentials.expires}³", "9" * 5000,
             f"+{credentials.expires}", f"{credentials.expires}.0"]
    for expires in forms + ([f" {credentials.expires}"] if transport == "url" else []):  # cookies trim spaces
        forged = type(credentials)(credentials.key_pair_id, credentials.signature, expires=expires)
        if transport == "url":
            response = await client.get(f"/{media.signed_id}.m3u8?{forged.as_query()}")
        else:
            cookies = {name: value.encode() for name, value in cookie_header(forged.as_cookies()).items()}
            response = await client.get(f"/{media.signed_id}.m3u8", headers=cookies)
        assert response.status_code == 403, expires
    assert (await client.get(url)).status_code == 200


async def test_a_policy_epoch_that_is_not_a_json_integer_is_refused(client, keys, media):
    expires = int(time.time()) + 300
    for epoch in (f'"{expires}"'.translate(ARABIC_INDIC), "true", f"{expires}.5", f'"{expires}"'):
        policy = build_policy(f"{EDGE}/{media.signed_id}*", expires).replace(str(expires), epoch.strip('"')
                                                                             if epoch[0] != '"' else epoch)
        credentials = sign(policy, key_pair_id=keys.new_id, private_key_pem=keys.new_pem, kind="custom")
        response = await client.get(f"/{media.signed_id}.m3u8?{credentials.as_query()}")
        assert response.status_code == (200 if epoch == f'"{expires}"' else 403), epoch
