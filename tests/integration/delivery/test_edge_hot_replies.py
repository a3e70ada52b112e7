"""Kept playlist answers: a repeated poll gets what the full path gives, and never outlives its catalog or cache."""

from __future__ import annotations

import time

import httpx
import pytest

from streamstack.assets.models import PlaybackId
from streamstack.signed_urls import sign_url

from .conftest import EDGE

pytestmark = pytest.mark.anyio


def count_full_path(edge):  # type: ignore[no-untyped-def]
    """Requests that went down the full request path (routing, catalog, rendering, middleware), by path."""
    full_path, seen = edge._entry, []

    async def counted(scope, receive, send):  # type: ignore[no-untyped-def]
        seen.append(scope["path"])
        await full_path(scope, receive, send)

    edge._entry = counted
    return seen


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/{public}/720p/index.m3u8", {}),
        ("/{public}.m3u8", {}),
        ("/{public}.m3u8?max_resolution=360p", {}),
        ("/{event}/720p/index.m3u8", {}),
        ("/{public}/720p/index.m3u8", {"Origin": "http://player.example"}),
        ("/{public}.m3u8", {"Origin": "http://player.example"}),
    ],
)
async def test_a_repeated_poll_gets_the_full_paths_answer_without_taking_it(edge, client, media, path, headers):
    path = path.format(public=media.public_id, event=media.event_public_id)
    full_path = count_full_path(edge)
    first = await client.get(path, headers=headers)
    hits = (edge.objects.stats.hits, edge.playbacks.stats.hits, edge.served.requests["hit"])
    again = [await client.get(path, headers=headers) for _ in range(3)]
    assert full_path == [path.partition("?")[0]]
    for response in again:
        assert (response.status_code, response.content) == (200, first.content)
        assert response.headers.raw == first.headers.raw
    assert (edge.objects.stats.hits, edge.playbacks.stats.hits, edge.served.requests["hit"]) == tuple(
        count + 3 for count in hits
    ), "counted as the full path counts a cached answer"
    assert edge.served.bytes["hit"] >= 3 * len(first.content)


async def test_ranges_validators_heads_and_odd_hosts_still_take_the_full_path(edge, client, media):
    path = f"/{media.public_id}/720p/index.m3u8"
    full_path = count_full_path(edge)
    etag = (await client.get(path)).headers["etag"]
    assert (await client.get(path, headers={"If-None-Match": etag})).status_code == 304
    assert (await client.get(path, headers={"Range": "bytes=0-6"})).content == b"#EXTM3U"
    assert (await client.head(path)).content == b""
    assert (await client.get(path, headers={"Host": f"edge.test/{media.signed_id}"})).status_code == 400
    assert len(full_path) == 5


async def test_signed_playback_is_verified_on_every_request_never_kept(edge, client, media, keys):
    url = sign_url(f"{EDGE}/{media.signed_id}/720p/index.m3u8", key_pair_id=keys.new_id,
                   private_key_pem=keys.new_pem, date_less_than=int(time.time()) + 60)  # fmt: skip
    full_path = count_full_path(edge)
    for _ in range(3):
        assert (await client.get(url)).status_code == 200
    assert (await client.get(f"/{media.signed_id}/720p/index.m3u8")).status_code == 403
    assert len(full_path) == 4 and len(edge.hot) == 0


async def test_a_playback_id_made_signed_is_refused_from_its_next_catalog_read(edge, client, edge_platform, media):
    path = f"/{media.public_id}/720p/index.m3u8"
    for _ in range(2):
        assert (await client.get(path)).status_code == 200
    with edge_platform.sessions() as session:
        session.get(PlaybackId, media.public_id).policy = "signed"
        session.commit()
    assert (await client.get(path)).status_code == 200, "the catalog entry is still fresh (up to its TTL)"
    edge.playbacks.discard(media.public_id)  # its TTL passing
    assert (await client.get(path)).status_code == 403
    assert (await client.get(path)).status_code == 403


async def test_a_changed_playlist_is_answered_once_its_cache_entry_goes(edge, client, edge_platform, media):
    path, key = f"/{media.event_public_id}/720p/index.m3u8", "assets/asset2/720p/index.m3u8"
    before = (await client.get(path)).text
    assert (await client.get(path)).text == before
    edge_platform.store.put(key, [(before + "#EXTINF:4.000,\nseg_00001.m4s\n").encode()])
    edge.objects.discard(key)  # its max-age passing
    after = await client.get(path)
    assert after.text.endswith("seg_00001.m4s\n") and (await client.get(path)).text == after.text


async def test_kept_answers_are_bounded(edge, client, media, monkeypatch):
    from streamstack.delivery import hot

    monkeypatch.setattr(hot, "MAX_HOT_REPLIES", 4)
    for number in range(10):
        assert (await client.get(f"/{media.public_id}/720p/index.m3u8?poll={number}")).status_code == 200
    assert len(edge.hot) == 4


async def test_without_metrics_a_kept_answer_is_still_served(edge_platform, media, fresh_metrics):
    fresh_metrics.configure_metrics(service="edge", enabled=False)
    from streamstack.delivery.app import create_edge_app

    edge = create_edge_app(edge_platform)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=edge), base_url=EDGE) as http:
        responses = [await http.get(f"/{media.public_id}.m3u8") for _ in range(2)]
    assert [r.status_code for r in responses] == [200, 200] and responses[0].content == responses[1].content
    assert edge.timing is None and len(edge.hot) == 1
