"""The Health page after real traffic: every chart the issue lists holds data, and a screenshot is kept."""

from __future__ import annotations

import math
from typing import Any
from urllib.parse import urljoin

import httpx
import pytest

from streamstack.web.health import Sample, quantile, summarize
from tests.e2e.browser.conftest import screenshot, sign_in, upload_via_api, wait_ready, wait_until

MUST_BE_NON_ZERO = ("api-latency", "api-throughput", "api-errors", "edge-hit-ratio", "edge-bytes", "encoding-jobs",
                    "queue-depth")
ALL_CHARTS = (*MUST_BE_NON_ZERO, "dlq-depth")  # no poison message here, so the DLQ stays (truthfully) at 0


def uris(playlist: httpx.Response) -> list[str]:
    """Every URI a playlist references (media lines and EXT-X-MAP), resolved against the playlist's URL."""
    found = []
    for line in playlist.text.splitlines():
        if line.startswith("#EXT-X-MAP:") and 'URI="' in line:
            found.append(line.split('URI="', 1)[1].split('"', 1)[0])
        elif line and not line.startswith("#"):
            found.append(line)
    return [urljoin(str(playlist.url), uri) for uri in found]


def play_over_the_edge(master_url: str, times: int = 2) -> int:
    """What a player does: master, rendition playlists, init and media segments; repeated, so hits follow misses."""
    fetched = 0
    with httpx.Client(timeout=30) as edge:
        for _ in range(times):
            master = edge.get(master_url).raise_for_status()
            for rendition_url in uris(master):
                for child in uris(edge.get(rendition_url).raise_for_status()):
                    edge.get(child).raise_for_status()
                    fetched += 1
    return fetched


def chart_data(page: Any) -> dict[str, dict[str, float]]:
    return page.evaluate("""() => Object.fromEntries([...document.querySelectorAll('figure[data-chart]')].map(
        (f) => [f.dataset.chart, {points: Number(f.dataset.points || 0), nonzero: Number(f.dataset.nonzero || 0),
                                  max: Number(f.dataset.max || 0)}]))""")


@pytest.mark.timeout(420)
def test_health_page_charts_real_traffic_and_is_screenshotted(page, stack, clip):
    asset_id = upload_via_api(stack, clip)
    wait_until(lambda: any(sum(s.queue_depth.values()) > 0 for s in stack.samples()), 30,
               "a metrics sample taken while the encode job waits in the queue")
    stack.start_worker()  # only now: the queue-depth chart has a point above zero by construction
    asset = wait_ready(stack, asset_id)
    master_url = asset["playback_ids"][0]["url"]
    assert play_over_the_edge(master_url) > 0  # twice: the second pass hits the cache
    with stack.client() as client:
        for _ in range(20):
            client.get("/v1/assets")
        client.get("/v1/assets/as_missing")  # a 4xx shows on the error-rate chart

    sign_in(page, stack)
    page.click("a[data-nav=health]")
    wait_until(lambda: all(chart_data(page).get(c, {}).get("nonzero", 0) > 0 for c in MUST_BE_NON_ZERO), 30,
               "the API, edge and encoding charts to hold non-zero data")
    samples = int(page.get_attribute("#view", "data-samples"))
    wait_until(lambda: int(page.get_attribute("#view", "data-samples")) > samples, 15, "the page to refresh by itself")
    data = chart_data(page)
    path = screenshot(page, "health.png")

    assert path.stat().st_size > 10_000
    assert set(ALL_CHARTS) <= set(data)
    for chart in ALL_CHARTS:
        assert data[chart]["points"] > 0, f"{chart} has no data points"
    assert 0 < data["edge-hit-ratio"]["max"] <= 1
    assert page.errors == []


def test_quantiles_follow_prometheus_histogram_quantile():
    buckets = {0.1: 50.0, 0.5: 90.0, 1.0: 100.0, math.inf: 100.0}
    assert quantile(0.5, buckets) == pytest.approx(0.1)
    assert quantile(0.7, buckets) == pytest.approx(0.3)
    assert quantile(0.99, buckets) == pytest.approx(0.95)
    assert quantile(0.5, {0.1: 0.0, math.inf: 0.0}) is None


def test_summary_turns_counters_into_windowed_rates_and_survives_a_counter_reset():
    def sample(t: float, count: float, five_xx: float, hits: float) -> Sample:
        return Sample(t=t, api_buckets={0.05: count, math.inf: count}, api_count=count,
                      api_by_class={"2xx": count - five_xx, "5xx": five_xx},
                      edge_requests={"hit": hits, "miss": hits / 9},
                      edge_bytes=hits * 1000, jobs={"running": 2, "completed": 1}, queue_depth={"encode": 3})

    samples = [sample(0, 0, 0, 0), sample(10, 100, 10, 9), sample(20, 20, 0, 19)]  # the API restarted at t=15
    summary = summarize(samples, interval=10, window=10)
    series = summary["series"]
    assert summary["t"] == [0, 10, 20]
    assert series["api_requests_per_second"] == [None, 10.0, 2.0]
    assert series["api_5xx_ratio"] == [None, 0.1, 0.0]
    assert series["edge_hit_ratio"][1] == pytest.approx(0.9)
    assert series["edge_bytes_per_second"][2] == pytest.approx(1000)
    assert series["encoding_jobs"]["running"] == [1, 1, 1]
    assert series["queue_depth"] == {"encode": [3, 3, 3]}


LIVE_CHARTS = ("live-streams", "live-ingest-bitrate", "live-ingest-fps", "live-transcoder-speed", "live-latency",
               "live-stall")


@pytest.mark.timeout(180)
def test_health_page_charts_each_live_streams_figures(page, stack, fresh_metrics):
    """What the ingest records per stream (recorded here through its own functions) is drawn, one line a stream."""
    streams = {"ls_main": (4.5e6, 30.0, 1.02, 2.2), "ls_slow": (1.2e6, 25.0, 0.8, 6.5)}

    def record() -> None:
        fresh_metrics.set_live_active_streams(len(streams))
        fresh_metrics.observe_live_part(0.006)
        for stream, (bits, fps, speed, latency) in streams.items():
            fresh_metrics.record_live_stream(stream, ingest_bitrate=bits, ingest_frame_rate=fps, stall_seconds=0.2,
                                             transcoder_speed=speed, latency_seconds=latency)  # fmt: skip

    record()
    wait_until(lambda: any(len(s.live_streams) == 2 for s in stack.samples()), 15, "a sample holding both streams")
    sign_in(page, stack)
    page.click("a[data-nav=health]")
    for _ in range(3):  # a few more points, as the ingest's supervision loop would record every 0.5 s
        record()
        samples = len(stack.samples())
        wait_until(lambda n=samples: len(stack.samples()) > n, 15, "the sampler's next point")
    wait_until(lambda: all(chart_data(page).get(c, {}).get("nonzero", 0) > 0 for c in LIVE_CHARTS), 30,
               "the live charts to hold the streams' figures")
    data = chart_data(page)
    assert data["live-ingest-bitrate"]["max"] == pytest.approx(4.5e6)
    assert data["live-latency"]["max"] == pytest.approx(6.5)
    legend = page.inner_text("figure[data-chart=live-transcoder-speed]")
    assert "ls_main" in legend and "ls_slow" in legend, legend
    tiles = page.inner_text(".tiles")
    assert "Live streams" in tiles and "6.5 s" in tiles and "0.80×" in tiles, tiles
    assert page.locator(".tile-bad", has_text="Transcoder").count() == 1, "0.8x is below the alert's 0.95x"
    screenshot(page, "health-live.png")
    assert page.errors == []
