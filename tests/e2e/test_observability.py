"""Issue 7, shown end to end: `streamstack up` with the real encoder; upload, play, one poison message.

Then one scrape of the API's `/metrics` (the multiprocess aggregate of API, worker and edge) shows the encode
completed, edge hits, and the poison message in the encode queue's DLQ, and promtool evaluates the
StreamstackDlqNotEmpty alert expression true on that very scrape.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from tusclient.client import TusClient

from streamstack.observability.status import Samples, collect_status, parse_samples
from streamstack.queue.factory import open_queue
from tests.conftest import bearer, missing_part
from tests.e2e.conftest import Running, start_up, wait_until
from tests.integration.test_prometheus_rules import PROMTOOL, alert_expression_holds

pytestmark = pytest.mark.e2e

POISON = json.dumps({"poison": "no handler knows this message"})
FAST_REDRIVE = {"STREAMSTACK_QUEUE_VISIBILITY_TIMEOUT": "1", "STREAMSTACK_QUEUE_MAX_RECEIVE_COUNT": "2"}


@pytest.fixture
def running(tmp_path: Path) -> Iterator[Running]:
    """`up` with the default (ffmpeg) encoder, 1 s segments and a redrive fast enough for a test."""
    with start_up(tmp_path, STREAMSTACK_SEGMENT_SECONDS="1", STREAMSTACK_KEYFRAME_SECONDS="1", **FAST_REDRIVE) as up:
        yield up


def create_key(up: Running) -> str:
    return up.cli("keys", "create", "--name", "e2e-observability").strip()


def upload_until_ready(up: Running, key: str, clip: Path) -> dict:  # type: ignore[type-arg]
    """tus upload through the API, then wait for the worker's encode and the metadata processor."""
    headers = bearer(key)
    upload = (
        httpx.post(
            f"{up.api}/v1/uploads", headers=headers, json={"new_asset_settings": {"playback_policy": ["public"]}}
        )
        .raise_for_status()
        .json()
    )
    TusClient(upload["url"]).uploader(str(clip), chunk_size=64 * 1024).upload()

    def finished() -> dict | None:  # type: ignore[type-arg]
        asset = httpx.get(f"{up.api}/v1/assets/{upload['asset_id']}", headers=headers).json()
        return asset if asset["status"] in ("ready", "errored") else None

    asset = wait_until(finished, 240, "the asset to be encoded")
    assert asset["status"] == "ready", (asset, up.log_tail())
    return asset


def media_uris(playlist: str, *, tags: tuple[str, ...] = ()) -> list[str]:
    """An HLS playlist's URI lines (variants or segments) and the URI attribute of `tags` (EXT-X-MAP: init)."""
    uris = []
    for line in playlist.splitlines():
        if line and not line.startswith("#"):
            uris.append(line)
        elif line.startswith(tags) and 'URI="' in line:
            uris.append(line.split('URI="', 1)[1].split('"', 1)[0])
    return uris


def play(up: Running, playback_id: str) -> int:
    """A player's requests: master, the first rendition playlist, its init and segments; returns the count."""
    master_url = f"{up.edge}/{playback_id}.m3u8"
    master = httpx.get(master_url).raise_for_status().text
    rendition_url = urljoin(master_url, media_uris(master)[0])
    rendition = httpx.get(rendition_url).raise_for_status().text
    segments = [urljoin(rendition_url, uri) for uri in media_uris(rendition, tags=("#EXT-X-MAP",))]
    assert segments, rendition
    for segment in segments:
        assert httpx.get(segment).raise_for_status().content
    return 2 + len(segments)


def metric(samples: Samples, name: str, **labels: str) -> float:
    """Sum of the samples of `name` whose labels include `labels`."""
    return sum(value for sample, have, value in samples if sample == name and labels.items() <= have.items())


def test_upload_play_and_a_poison_message_show_in_metrics_and_fire_the_dlq_alert(
    running: Running, clip: Path
) -> None:
    key = create_key(running)
    asset = upload_until_ready(running, key, clip)
    playback_id = next(p["id"] for p in asset["playback_ids"] if p["policy"] == "public")
    requests = play(running, playback_id)
    assert play(running, playback_id) == requests  # the second viewing is served from the edge's cache

    encode = open_queue(running.settings, "encode")
    encode.send(POISON)
    wait_until(lambda: encode.dlq_stats().visible == 1, 60, "the poison message to be redriven to the DLQ")

    scrape = httpx.get(f"{running.api}/metrics").raise_for_status().text
    samples = parse_samples(scrape)
    assert metric(samples, "streamstack_encoding_jobs_total", state="completed") >= 1, scrape
    assert metric(samples, "streamstack_encoding_jobs_total", state="queued") >= 1, scrape
    assert metric(samples, "streamstack_queue_dlq_depth", queue="encode") == 1, scrape
    assert metric(samples, "streamstack_handler_errors_total", event_type="unknown") >= 2, scrape
    status = collect_status(running.api, key, running.edge)  # the worker's heartbeat comes from its own process
    assert {c.name: c.state for c in status.components} == {"api": "ok", "edge": "ok", "worker": "ok"}, status
    if PROMTOOL is not None:
        assert alert_expression_holds(scrape, "StreamstackDlqNotEmpty"), scrape
    def edge_counted() -> bool:  # the edge publishes its counters within a second of its last response
        fresh = parse_samples(httpx.get(f"{running.api}/metrics").raise_for_status().text)
        return metric(fresh, "streamstack_edge_requests_total") >= 2 * requests

    wait_until(edge_counted, 10, "every edge response to be counted in the shared scrape")
    samples = parse_samples(httpx.get(f"{running.api}/metrics").text)
    assert metric(samples, "streamstack_edge_requests_total", cache_result="hit") > 0, scrape
    if PROMTOOL is None:
        missing_part("promtool not installed (Debian/Ubuntu: apt-get install -y prometheus): alert not evaluated")
