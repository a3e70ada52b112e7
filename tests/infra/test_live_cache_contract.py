"""The edge <-> CloudFront contract for live playback: every query parameter and cookie a response depends on
is in the edge cache policy's key (and nothing else changes a response), and every TTL the edge asks for is
one the policy lets CloudFront keep, for public and signed playback alike.

The edge under test is the real app over a hand-written LL-HLS session (a live stream, its recording asset,
parts, a segment, a delta playlist); the cache policy is read from the Terraform module.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from streamstack.assets.models import Asset, PlaybackId
from streamstack.delivery.app import CACHE_KEY_QUERY, create_edge_app
from streamstack.keys.models import SigningKey
from streamstack.keys.signing import new_key_pair_id, public_pem_of
from streamstack.live.models import LiveStream
from streamstack.platform import build_platform
from streamstack.signed_urls import COOKIE_PREFIX, build_policy, load_private_key, sign
from tests.conftest import make_settings
from tests.infra.hcl import MODULES_DIR, locals_of, one, resolve, resource

CDN = MODULES_DIR / "cdn"
EDGE = "http://edge.test"
pytestmark = pytest.mark.anyio

LL = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-TARGETDURATION:2
#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,CAN-SKIP-UNTIL=12.0,PART-HOLD-BACK=1.5,HOLD-BACK=6.0
#EXT-X-PART-INF:PART-TARGET=0.5
#EXT-X-MEDIA-SEQUENCE:0
#EXT-X-MAP:URI="init0.mp4"
#EXTINF:2.0,
0.m4s
#EXT-X-PART:DURATION=0.5,URI="1.0.m4s",INDEPENDENT=YES
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="1.1.m4s"
"""
DELTA = LL.replace("#EXT-X-MAP", "#EXT-X-SKIP:SKIPPED-SEGMENTS=0\n#EXT-X-MAP")
MASTER = """#EXTM3U
#EXT-X-VERSION:9
#EXT-X-STREAM-INF:BANDWIDTH=3000000,RESOLUTION=1280x720,CODECS="avc1.64001f,mp4a.40.2"
720p/ll.m3u8
#EXT-X-STREAM-INF:BANDWIDTH=800000,RESOLUTION=640x360,CODECS="avc1.64001e,mp4a.40.2"
360p/ll.m3u8
"""
FILES = {"live.m3u8": MASTER}
for _rendition in ("720p", "360p"):
    FILES |= {f"{_rendition}/ll.m3u8": LL, f"{_rendition}/ll_skip.m3u8": DELTA, f"{_rendition}/init0.mp4": "init",
              f"{_rendition}/0.m4s": "segment-0", f"{_rendition}/1.0.m4s": "part-1.0"}  # fmt: skip
IGNORED_QUERY = "utm_source=newsletter&_HLS_foo=1&cb=123"


# --- the Terraform side ---------------------------------------------------------------------------------------


def _policy() -> dict:
    return resource(CDN, "aws_cloudfront_cache_policy", "edge")


def _key_items(config: str, item: str) -> set[str]:
    """The whitelisted names of the edge policy's cookies or query strings, with their locals resolved."""
    params = one(_policy()["parameters_in_cache_key_and_forwarded_to_origin"])
    items = one(one(params[config])[item])["items"]
    if isinstance(items, list):
        return {resolve(i, CDN) for i in items}
    names = re.findall(r"local\.([a-z_]+)", items)
    assert re.fullmatch(r"\$\{(concat\()?[a-z_., ]+\)?\}", items), f"not a list of locals: {items}"
    return {name for local in names for name in locals_of(CDN)[local]}


def _ttls() -> tuple[int, int, int]:
    policy = _policy()
    return tuple(int(resolve(policy[k], CDN)) for k in ("min_ttl", "default_ttl", "max_ttl"))  # type: ignore[return-value]


def cloudfront_ttl(cache_control: str) -> int | None:
    """How long CloudFront keeps a 200 under the edge policy (its documented rules); None: not cached."""
    directives = {d.strip().partition("=")[0]: d.strip().partition("=")[2] for d in cache_control.split(",")}
    low, default, high = _ttls()
    if {"private", "no-store", "no-cache"} & directives.keys() and low == 0:
        return None
    wanted = directives.get("s-maxage") or directives.get("max-age")
    return default if wanted is None else min(max(int(wanted), low), high)


def test_the_edge_policy_keys_exactly_what_the_edge_varies_on() -> None:
    assert _key_items("query_strings_config", "query_strings") == set(CACHE_KEY_QUERY)
    from streamstack.signed_urls import QUERY_PARAMS

    assert _key_items("cookies_config", "cookies") == {COOKIE_PREFIX + name for name in QUERY_PARAMS}
    params = one(_policy()["parameters_in_cache_key_and_forwarded_to_origin"])
    assert one(params["headers_config"])["header_behavior"] == "none"
    behavior = one(resource(CDN, "aws_cloudfront_distribution", "this")["default_cache_behavior"])
    assert behavior["cache_policy_id"] == "${aws_cloudfront_cache_policy.edge.id}"
    # The origin request policy forwards every viewer query string and cookie: the edge still sees them all.
    assert "all_viewer_except_host" in behavior["origin_request_policy_id"]


def test_errors_of_a_blocking_reload_are_not_cached_for_everyone() -> None:
    dist = resource(CDN, "aws_cloudfront_distribution", "this")
    errors = next(block["custom_error_response"] for block in dist["dynamic"] if "custom_error_response" in block)
    assert {int(code): ttl for code, ttl in errors["for_each"].items()} == {404: 1, 503: 0}
    assert one(errors["content"])["error_caching_min_ttl"] == "${custom_error_response.value}"


# --- the edge side --------------------------------------------------------------------------------------------


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
async def live(tmp_path: Path, rsa_pem: str) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    """An edge serving a live stream's session on a public (`pub`) and a signed (`sig`) playback id."""
    platform = build_platform(make_settings(tmp_path / "data", public_edge_url=EDGE), with_queues=False)
    for name, body in FILES.items():
        platform.store.put(f"assets/rec1/{name}", [body.encode()])
    key_id = new_key_pair_id()
    with platform.sessions() as session:
        session.add(Asset(id="rec1", status="preparing"))
        session.add(LiveStream(id="ls1", stream_key="k" * 32, status="active", active_asset_id="rec1"))
        session.add(PlaybackId(id="pub", live_stream_id="ls1", policy="public"))
        session.add(PlaybackId(id="sig", live_stream_id="ls1", policy="signed"))
        public = public_pem_of(load_private_key(rsa_pem))
        session.add(SigningKey(id=key_id, name="k", public_key_pem=public, private_key_pem=rsa_pem))
        session.commit()
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=create_edge_app(platform)), base_url=EDGE) as c:
            yield c, key_id
    finally:
        platform.close()


@pytest.fixture(scope="module")
def rsa_pem() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def _signed(rsa_pem: str, key_id: str, kind: str) -> str:
    policy = build_policy(f"{EDGE}/sig*", int(time.time()) + 600)
    return sign(policy, key_pair_id=key_id, private_key_pem=rsa_pem, kind=kind).as_query()  # type: ignore[arg-type]


PATHS = {
    "blocking reload": ("/pub/720p/ll.m3u8", "_HLS_msn=1&_HLS_part=0"),
    "blocking delta": ("/pub/720p/ll.m3u8", "_HLS_msn=1&_HLS_part=0&_HLS_skip=YES"),
    "live playlist": ("/pub/720p/ll.m3u8", ""),
    "part": ("/pub/720p/1.0.m4s", ""),
    "segment": ("/pub/720p/0.m4s", ""),
    "init": ("/pub/720p/init0.mp4", ""),
    "master": ("/pub.m3u8", ""),
}
EXPECTED_TTL = {"blocking reload": 60, "blocking delta": 60, "live playlist": 1, "part": 31_536_000,
                "segment": 31_536_000, "init": 31_536_000, "master": 2}  # fmt: skip


@pytest.mark.parametrize("what", list(PATHS))
async def test_public_live_responses_are_kept_by_cloudfront_as_long_as_the_edge_says(live, what: str) -> None:
    client, _ = live
    path, query = PATHS[what]
    response = await client.get(path, params=httpx.QueryParams(query))
    assert response.status_code == 200, response.text
    assert cloudfront_ttl(response.headers["cache-control"]) == EXPECTED_TTL[what], response.headers["cache-control"]


@pytest.mark.parametrize("what", list(PATHS))
async def test_a_query_string_outside_the_cache_key_changes_nothing(live, what: str) -> None:
    client, _ = live
    path, query = PATHS[what]
    plain = await client.get(path, params=httpx.QueryParams(query))
    noisy = await client.get(path, params=httpx.QueryParams("&".join(q for q in (query, IGNORED_QUERY) if q)))
    assert (noisy.status_code, noisy.content) == (plain.status_code, plain.content)
    assert noisy.headers["cache-control"] == plain.headers["cache-control"]
    assert noisy.headers.get("etag") == plain.headers.get("etag")


async def test_each_query_string_in_the_cache_key_can_change_the_response(live) -> None:
    client, _ = live
    get = client.get
    plain = await get("/pub/720p/ll.m3u8")
    blocking = await get("/pub/720p/ll.m3u8", params={"_HLS_msn": 1, "_HLS_part": 0})
    part = await get("/pub/720p/ll.m3u8", params={"_HLS_msn": 1, "_HLS_part": 1})  # never published: 503
    delta = await get("/pub/720p/ll.m3u8", params={"_HLS_msn": 0, "_HLS_skip": "YES"})
    capped = await get("/pub.m3u8", params={"max_resolution": "360p"})
    assert plain.headers["cache-control"] != blocking.headers["cache-control"]  # _HLS_msn
    assert part.status_code == 503 and blocking.status_code == 200  # _HLS_part
    assert "#EXT-X-SKIP" in delta.text and "#EXT-X-SKIP" not in plain.text  # _HLS_skip
    assert "720p" not in capped.text and "720p" in (await get("/pub.m3u8")).text  # max_resolution


@pytest.mark.parametrize("carrier", ["query", "cookies"])
@pytest.mark.parametrize("what", ["blocking reload", "live playlist", "part"])
async def test_signed_live_playback_is_cacheable_per_signature(live, rsa_pem: str, carrier: str, what: str) -> None:
    """Keyed by its signature (cookies or query), CloudFront may keep it, for at most a minute (the expiry cap)."""
    client, key_id = live
    path, query = PATHS[what]
    path = path.replace("/pub/", "/sig/")
    signature = _signed(rsa_pem, key_id, "custom")  # a policy for the whole playback id, as players need for live
    if carrier == "query":
        response = await client.get(path, params=httpx.QueryParams("&".join(q for q in (query, signature) if q)))
    else:
        jar = "; ".join(f"{COOKIE_PREFIX}{name}={value}" for name, value in httpx.QueryParams(signature).items())
        response = await client.get(path, params=httpx.QueryParams(query), headers={"Cookie": jar})
    assert response.status_code == 200, response.text
    ttl = cloudfront_ttl(response.headers["cache-control"])
    assert ttl is not None and 0 < ttl <= 60, response.headers["cache-control"]
    assert (await client.get(path, params=httpx.QueryParams(query))).status_code == 403  # unsigned: refused
    if what != "part" and carrier == "query":  # child URIs carry the signature: the body is per signature
        assert "Signature=" in response.text
