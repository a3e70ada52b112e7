"""Live observability end to end: ffmpeg publishes over RTMP (-re), and `/metrics`, the Health page's summary
and `streamstack status` show the stream's ingest bitrate and frame rate, encoder speed and latency while it is
live; once the publisher leaves, every per-stream series is gone."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from io import StringIO
from pathlib import Path
from typing import Any, Protocol

import httpx
import pytest
from rich.console import Console

from streamstack.cli.status import render
from streamstack.live.ingest import find_nginx, wait_for_port
from streamstack.observability.status import collect_status, parse_samples
from tests.conftest import bearer, missing_part, wait_until
from tests.e2e import test_live_rtmp
from tests.e2e.test_live_rtmp import LADDER, LiveStack, publish

stack = test_live_rtmp.stack  # the RTMP stack fixture (nginx-rtmp, callbacks, API, edge), shared

PUBLISHED_FPS = 30.0  # publish(): testsrc2 at 30 fps


class Api(Protocol):
    """Where `/metrics` is read: the test stack, or `up`."""

    api: str
    headers: dict[str, str]


@dataclass
class UpApi:
    api: str
    headers: dict[str, str]


def stream_series(api: Api, live_stream_id: str) -> dict[str, float]:
    response = httpx.get(f"{api.api}/metrics", headers=api.headers, timeout=10)
    response.raise_for_status()
    return {name: value for name, labels, value in parse_samples(response.text)
            if labels.get("live_stream_id") == live_stream_id}  # fmt: skip


def steady(api: Api, live_stream_id: str) -> dict[str, float] | None:
    """The stream's series once every figure is measured and the encoder has run a full speed window."""
    series = stream_series(api, live_stream_id)
    return series if len(series) == 5 and series.get("streamstack_live_transcoder_speed", 0) > 0.5 else None


def _at_publish_rate(stack: LiveStack, live_stream_id: str) -> dict[str, float] | None:
    """The first joins burst; once the 5 s window is past it, the frame rate is the publisher's own."""
    series = steady(stack, live_stream_id)
    fps = series and series["streamstack_live_ingest_frames_per_second"]
    return series if fps and PUBLISHED_FPS * 0.8 <= fps <= PUBLISHED_FPS * 1.2 else None


@pytest.mark.usefixtures("fresh_metrics")
def test_metrics_show_per_stream_figures_while_live_and_drop_them_after(stack: LiveStack) -> None:
    stream = stack.create_stream(reconnect_window=30)
    sid = stream["id"]
    publisher = publish(f"{stack.rtmp}/{stream['stream_key']}", 20)
    try:
        series = wait_until(lambda: steady(stack, sid), 30, "every per-stream figure of the live stream")
        series = wait_until(lambda: _at_publish_rate(stack, sid), 20, "the ingest frame rate at the published rate")
        fps = series["streamstack_live_ingest_frames_per_second"]
        bitrate = series["streamstack_live_ingest_bitrate_bits_per_second"]
        assert PUBLISHED_FPS * 0.8 <= fps <= PUBLISHED_FPS * 1.2, series  # what _at_publish_rate waited for
        assert 50_000 < bitrate < 20_000_000, series  # ultrafast x264 at 640x360 plus AAC
        assert 0.5 < series["streamstack_live_transcoder_speed"] < 1.5, series
        assert series["streamstack_live_ingest_stall_seconds"] < 3, series
        assert 0 < series["streamstack_live_latency_seconds"] < 10, series  # PART-HOLD-BACK alone is ~1.5 s

        status = collect_status(stack.api, stack.headers["Authorization"].removeprefix("Bearer "), stack.edge)
        shown = {s.live_stream_id: s for s in status.live.streams}
        # media flows, so never "stalled"; "behind" is the truth on a machine too loaded to encode in real time
        assert status.live.active_streams == 1 and shown[sid].state in ("ok", "behind"), status.live
        assert status.live.part_publish_seconds is not None and status.live.part_publish_seconds < 1
        out = StringIO()
        Console(file=out, width=200, color_system=None).print(render(status))
        row = next(line for line in out.getvalue().splitlines() if sid in line)
        assert "live stream" in row and f" {shown[sid].state} " in row, row
        assert all(word in row for word in ("Mb/s", "fps", "transcoder", "latency", "no video for")), row

        summary = wait_until(lambda: _summary_with(stack, sid), 15, "the Health page's summary to chart the stream")
        live = summary["series"]["live_streams"][sid]
        assert _last(live["ingest_bitrate"]) > 50_000 and _last(live["transcoder_speed"]) > 0.5, live
        assert _last(summary["series"]["live_active_streams"]) == 1
        assert publisher.wait(timeout=40) == 0
    finally:
        if publisher.poll() is None:
            publisher.kill()
    wait_until(lambda: stream_series(stack, sid) == {}, 15, "the stream's series to be removed after it left")
    assert not stack.stream(sid)["connected"]
    after = collect_status(stack.api, stack.headers["Authorization"].removeprefix("Bearer "), stack.edge)
    assert after.live.streams == [] and after.live.active_streams == 0


def _last(values: list[Any]) -> Any:
    return next((v for v in reversed(values) if v is not None), None)


def _summary_with(stack: LiveStack, live_stream_id: str) -> dict[str, Any] | None:
    """The Health page's data once a sample (every 5 s) holds every figure of the stream."""
    summary = httpx.get(f"{stack.api}/v1/metrics/summary", headers=stack.headers, timeout=10).json()
    live = summary["series"]["live_streams"].get(live_stream_id, {})
    measured = live and all(_last(values) is not None for values in live.values())
    return summary if measured else None


def test_up_shows_the_ingest_processs_stream_figures_in_metrics_and_status(tmp_path: Path) -> None:
    """`up`: the ingest is its own process; the API's multiprocess `/metrics` and `streamstack status` show its
    per-stream series while live, and none once the stream has gone (there a series cannot be deleted)."""
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed")
    from tests.e2e.conftest import start_up

    with start_up(tmp_path, STREAMSTACK_LIVE_LADDER=json.dumps(LADDER[1:]),
                  STREAMSTACK_LIVE_X264_PRESET="ultrafast") as up:  # fmt: skip
        key = up.cli("keys", "create", "--name", "live").strip()
        live = UpApi(up.api, bearer(key))
        stream = httpx.post(f"{up.api}/v1/live-streams", json={"reconnect_window": 1}, headers=live.headers).json()
        sid = stream["id"]
        assert wait_for_port("127.0.0.1", int(up.env["STREAMSTACK_RTMP_PORT"]), 20), up.log_tail()
        publisher = publish(f"{stream['rtmp_url']}/{stream['stream_key']}", 25)  # long enough for a loaded `up`
        try:
            series = wait_until(lambda: steady(live, sid), 40, "the ingest's per-stream series in the API's /metrics")
            assert series["streamstack_live_ingest_frames_per_second"] > 0, series
            command = [sys.executable, "-m", "streamstack", "status", "--api-url", up.api, "--api-key", key]
            status = subprocess.run(command, env=up.env, capture_output=True, text=True, timeout=60)
            shown = {s["live_stream_id"]: s for s in json.loads(status.stdout)["live"]["streams"]}.get(sid)
            assert shown and shown["ingest_bitrate"] > 50_000 and shown["state"] in ("ok", "behind"), status.stdout
        finally:
            publisher.wait(timeout=40)
        wait_until(lambda: httpx.get(f"{up.api}/v1/live-streams/{sid}", headers=live.headers).json()["status"]
                   == "idle", 30, "idle after the window")  # fmt: skip
        wait_until(lambda: stream_series(live, sid) == {}, 15, "no series of the ended stream in /metrics")
