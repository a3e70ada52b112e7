"""Live in Debian Chromium: hls.js plays an RTMP publish in low-latency and in standard mode.

Real parts only: ffmpeg publishing in real time over RTMP to nginx-rtmp, the ingest (callbacks, encoder,
packager), the edge with blocking playlist reload, the console and the vendored hls.js.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamstack.live.ingest import find_nginx, run_ingest, wait_for_port
from tests.conftest import free_port, missing_part, wait_until
from tests.e2e.browser.conftest import Stack, create_stream, get_stream, running_stack, screenshot, sign_in
from tests.e2e.test_live_rtmp import LADDER, publish

SAMPLE = """() => {
  const player = window.streamstackPlayer;
  const hls = player?.hls;
  if (!hls) return null;
  return { time: player.video.currentTime, latency: hls.latency, target: hls.targetLatency,
           holdBack: hls.latestLevelDetails?.holdBack, partHoldBack: hls.latestLevelDetails?.partHoldBack,
           lowLatency: hls.config.lowLatencyMode, fatal: player.events.filter((e) => e.fatal).map((e) => e.details) };
}"""
# hls.js may start far behind on a busy machine, then catches up (1.5x): steady state is what a viewer gets
CAUGHT_UP = """() => {
  const hls = window.streamstackPlayer.hls;
  return hls.latency > 0 && hls.latency < hls.latestLevelDetails.holdBack;
}"""
PLAYED_SECONDS = 12.0  # of media each player must play (wall time varies with the machine's load)


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Stack]:
    """The browser stack plus the RTMP ingest (nginx-rtmp, callbacks, supervision) as `streamstack up` runs it."""
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed")
    with running_stack(tmp_path / "data", rtmp_port=free_port(), live_ladder=LADDER[1:], keyframe_seconds=2.0,
                       live_x264_preset="ultrafast", live_dvr_window=30.0) as stack:  # fmt: skip
        stop = threading.Event()
        ingest = threading.Thread(target=run_ingest, args=(stack.platform, stop), name="ingest", daemon=True)
        ingest.start()
        try:
            assert wait_for_port("127.0.0.1", stack.platform.settings.rtmp_port, 20), "nginx-rtmp never listened"
            yield stack
        finally:
            stop.set()
            ingest.join(timeout=30)


PLAYING = """() => {
  const player = window.streamstackPlayer;
  return Boolean(player?.hls && !player.video.paused && player.video.readyState >= 2);
}"""


def play_side_by_side(tabs: dict[str, Any], media_seconds: float, timeout: float) -> dict[str, list[dict[str, Any]]]:
    """Each tab's player state about once a second, from when both play until each has played `media_seconds`."""
    for name, tab in tabs.items():
        try:
            tab.wait_for_function(PLAYING, timeout=60_000)
        except Exception as exc:
            state = tab.evaluate("() => window.streamstackPlayer && { events: window.streamstackPlayer.events, "
                                 "paused: window.streamstackPlayer.video.paused, "
                                 "ready: window.streamstackPlayer.video.readyState }")  # fmt: skip
            raise AssertionError(f"the {name} player never played: {state}; {getattr(tab, 'errors', '')}") from exc
    try:
        tabs["low"].wait_for_function(CAUGHT_UP, timeout=60_000)
    except Exception as exc:
        raise AssertionError(f"low-latency mode never came within HOLD-BACK: {tabs['low'].evaluate(SAMPLE)}") from exc
    samples: dict[str, list[dict[str, Any]]] = {name: [] for name in tabs}
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for name, tab in tabs.items():
            samples[name].append(tab.evaluate(SAMPLE))
        if all(s[-1]["time"] - s[0]["time"] >= media_seconds for s in samples.values()):
            break
        time.sleep(1)
    return samples


def settled_latency(samples: list[dict[str, Any]]) -> float:
    """The median latency over the second half (after hls.js has found its place behind the live edge)."""
    values = [s["latency"] for s in samples[len(samples) // 2:] if s["latency"] and s["latency"] > 0]
    assert values, f"hls.latency was never reported: {samples}"
    return statistics.median(values)


def test_hls_js_plays_the_live_stream_in_low_latency_and_standard_mode(live: Stack, browser: Any,
                                                                       page: Any) -> None:  # fmt: skip
    stream = create_stream(live, reconnect_window=2, new_asset_settings={"playback_policy": ["public"]})
    playback = stream["playback_ids"][0]["id"]
    sign_in(page, live)
    page.goto(f"{live.api.url}/#/live/{stream['id']}")
    page.wait_for_selector("#player-waiting")  # the page is open before the encoder starts, as a producer's is
    publisher = publish(f"{stream['rtmp_url']}/{stream['stream_key']}", 300)
    standard_context = browser.new_context(viewport={"width": 960, "height": 540})
    try:
        page.wait_for_selector('#live-status [data-status="live"]', timeout=30_000)
        standard = standard_context.new_page()
        standard.goto(f"{live.api.url}/embed/{playback}?autoplay=1&muted=1&latency=standard")
        samples = play_side_by_side({"low": page, "standard": standard}, PLAYED_SECONDS, timeout=90)
        readout = page.text_content(".latency-readout")
        screenshot(page, "live-console.png")
    finally:
        publisher.terminate()  # the publisher stops streaming, as OBS does
        publisher.wait(timeout=30)
        standard_context.close()
    for mode, expect_ll in (("low", True), ("standard", False)):
        first, last = samples[mode][0], samples[mode][-1]
        assert last["lowLatency"] is expect_ll
        assert not last["fatal"], f"{mode}: fatal hls.js errors {last['fatal']}"
        assert last["time"] - first["time"] >= PLAYED_SECONDS, f"{mode}: playback stalled: {samples[mode]}"
    low, standard_latency = settled_latency(samples["low"]), settled_latency(samples["standard"])
    hold_back = samples["low"][-1]["holdBack"]
    assert samples["low"][-1]["partHoldBack"] < hold_back == 6.0, "the playlist's hold-backs (2 s segments)"
    assert samples["low"][-1]["target"] < samples["standard"][-1]["target"], "PART-HOLD-BACK vs HOLD-BACK"
    assert low < hold_back, f"low-latency mode plays {low:.2f} s behind live, not within HOLD-BACK: {samples}"
    assert standard_latency > low, f"standard {standard_latency:.2f} s vs low-latency {low:.2f} s: {samples}"
    assert readout and readout.startswith("Latency "), readout
    assert stream["stream_key"] not in " ".join(page.errors)

    idle = wait_until(lambda: (s := get_stream(live, stream["id"]))["status"] == "idle" and s, 40, "idle")
    recording = idle["recent_asset_ids"][0]
    page.wait_for_selector('#live-status [data-status="idle"]')
    link = page.wait_for_selector(f'#recordings tr[data-asset-id="{recording}"] a')
    assert link.get_attribute("href") == f"#/assets/{recording}"
    create_clip_from_the_console(live, page, recording)


def create_clip_from_the_console(live: Stack, page: Any, recording: str) -> None:
    """The clip form posts the clips contract (`streamstack://assets/{id}` with a time range) to POST /v1/assets."""
    page.select_option("#clip-source", recording)
    page.fill("#clip-start", "2")
    page.fill("#clip-end", "6")
    with page.expect_request(lambda r: r.method == "POST" and r.url.endswith("/v1/assets")) as posted:
        page.click("#clip-create")
    request = posted.value
    assert request.post_data_json == {"input": f"streamstack://assets/{recording}", "start_time": 2, "end_time": 6,
                                      "playback_policy": ["public"]}
    assert request.headers["authorization"] == f"Bearer {live.key}" and request.headers["idempotency-key"]
    response = request.response()
    assert response.status == 201, response.text()
    clip = response.json()
    page.click("#clip-link")
    page.wait_for_function("([id]) => location.hash === `#/assets/${id}`", arg=[clip["id"]])
    page.wait_for_selector('.page-head [data-status="ready"]')  # cut from the recording's segments: no encode
    page.wait_for_function("() => window.streamstackPlayer?.hls?.levels?.length > 0")
