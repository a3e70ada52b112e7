"""Live observability: per-stream ingest bitrate and frame rate, stalls, encoder speed and latency, recorded and
removed with the stream; the relay's `-progress` parsed; the latency a player at the live edge sees."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client import generate_latest
from prometheus_client.parser import text_string_to_metric_families

from streamstack.live.telemetry import (
    INGEST_WINDOW,
    RateMeter,
    StreamTelemetry,
    live_edge_latency,
    progress_reports,
)
from streamstack.media.llhls import LivePlaylist, LiveSegment, Part
from streamstack.observability import catalogue, emf

PER_STREAM = sorted(name for name, d in catalogue.METRICS.items() if d.per_stream)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_rate_is_growth_per_second_over_the_window_and_falls_to_zero_on_a_stall() -> None:
    meter = RateMeter(10.0)
    meter.add(0.5, now=0.0)
    assert meter.rate(now=0.0) is None, "no figure before two seconds of samples"
    total = 0.5
    for step in range(1, 41):  # a 0.5 s part every 0.5 s: real time
        total += 0.5
        meter.add(total, now=step * 0.5)
    assert meter.rate(now=20.0) == pytest.approx(1.0)
    assert meter.rate(now=20.4) == pytest.approx(1.0), "waiting for the next part is not a slowdown"
    assert meter.rate(now=25.0) == pytest.approx(5.0 / 9.0), "no part for 5 s: 5 s made in the last 10 (less 1 s)"
    assert meter.rate(now=40.0) == 0.0, "nothing within the window: zero, not the last value"
    slow = RateMeter(10.0)
    for step in range(12):  # a 0.5 s part every second: the alert's case
        slow.add(0.5 * (step + 1), now=float(step))
    assert slow.rate(now=11.0) == pytest.approx(0.5)


FFMPEG_PROGRESS = b"""frame=0
fps=0.00
stream_0_0_q=-1.0
bitrate=N/A
total_size=N/A
out_time_us=N/A
speed=N/A
progress=continue
frame=15
fps=0.00
stream_0_0_q=-1.0
bitrate=1843.2kbits/s
total_size=115200
out_time_us=500000
dup_frames=0
drop_frames=0
speed=1.01x
progress=continue
frame=30
total_size=230400
progress=end
"""


def test_relay_progress_reports_give_the_ingest_bitrate_frame_rate_and_stalls() -> None:
    reports = list(progress_reports(FFMPEG_PROGRESS.splitlines(keepends=True)))
    assert [r["frame"] for r in reports] == ["0", "15", "30"] and reports[-1]["progress"] == "end"
    clock = Clock()
    telemetry = StreamTelemetry(clock)
    telemetry.follow_relay(FFMPEG_PROGRESS.splitlines())  # N/A sizes are skipped, not read as zero
    for _ in range(int(INGEST_WINDOW * 2)):  # 2 Mbit/s and 30 fps, reported every half second
        clock.now += 0.5
        telemetry.relay_progress(telemetry.frames_seen + 15, (telemetry.bits.samples[-1][1] / 8) + 125_000)
    figures = telemetry.figures(latency_seconds=None)
    assert figures.ingest_bitrate == pytest.approx(2_000_000)
    assert figures.ingest_frame_rate == pytest.approx(30)
    assert figures.stall_seconds == 0.0
    clock.now += 12  # the publisher stays connected, no frame arrives
    telemetry.relay_progress(telemetry.frames_seen, telemetry.bits.samples[-1][1] / 8)
    stalled = telemetry.figures(latency_seconds=None)
    assert stalled.stall_seconds == 12.0 and stalled.ingest_frame_rate == 0.0 and stalled.ingest_bitrate == 0.0
    telemetry.connected()  # a reconnect: new counters from zero, the stall clock restarts
    assert telemetry.figures(None).stall_seconds == 0.0 and telemetry.figures(None).ingest_bitrate is None


def _playlist(segment_parts: list[int], start: datetime, part: float = 0.5) -> LivePlaylist:
    playlist = LivePlaylist(target_duration=2.0, part_target=part, window_seconds=30.0)
    date = start
    for msn, count in enumerate(segment_parts):
        parts = [Part(f"{msn}.{i}.m4s", part, i == 0) for i in range(count)]
        segment = LiveSegment(msn, "init0.mp4", date, parts=parts)
        if count == 4:
            segment.uri = f"{msn}.m4s"
        playlist.segments.append(segment)
        date += timedelta(seconds=segment.duration)
    return playlist


def test_latency_estimate_is_what_a_player_at_the_live_edge_sees() -> None:
    start = datetime(2026, 11, 30, 18, 0, tzinfo=UTC)
    playlist = _playlist([4, 4, 2], start)  # media up to start + 5 s; the last whole segment ends at + 4 s
    now = start + timedelta(seconds=5.3)  # the newest part ended 0.3 s ago
    low = live_edge_latency(playlist, low_latency=True, now=now)
    assert low == pytest.approx(0.3 + 3 * 0.5), "newest part's end, plus PART-HOLD-BACK (3 parts)"
    standard = live_edge_latency(playlist, low_latency=False, now=now)
    assert standard == pytest.approx(1.3 + 3 * 2), "newest whole segment's end, plus HOLD-BACK (3 targets)"
    assert live_edge_latency(LivePlaylist(2.0, 0.5, 30.0), low_latency=True, now=now) is None
    later = live_edge_latency(playlist, low_latency=True, now=now + timedelta(seconds=10))
    assert later == pytest.approx(low + 10), "no new part: the estimate keeps growing, it is not frozen"


def _stream_samples(registry: Any, live_stream_id: str) -> dict[str, float]:
    return {
        sample.name: sample.value
        for family in text_string_to_metric_families(generate_latest(registry).decode())
        for sample in family.samples
        if sample.labels.get(catalogue.STREAM_LABEL) == live_stream_id
    }


def test_per_stream_series_exist_while_connected_and_are_removed_after(fresh_metrics: Any) -> None:
    metrics = fresh_metrics
    metrics.configure_metrics(service="ingest", enabled=True)
    metrics.set_live_active_streams(2)
    metrics.observe_live_part(0.004)
    for stream in ("ls_a", "ls_b"):
        metrics.record_live_stream(stream, ingest_bitrate=2.5e6, ingest_frame_rate=30.0, stall_seconds=0.2,
                                   transcoder_speed=1.01, latency_seconds=2.4)  # fmt: skip
    metrics.record_live_stream("ls_c", ingest_bitrate=None, ingest_frame_rate=None, stall_seconds=1.0,
                               transcoder_speed=None, latency_seconds=None)  # fmt: skip
    registry = metrics.get_registry()
    assert _stream_samples(registry, "ls_a") == {
        "streamstack_live_ingest_bitrate_bits_per_second": 2.5e6,
        "streamstack_live_ingest_frames_per_second": 30.0,
        "streamstack_live_ingest_stall_seconds": 0.2,
        "streamstack_live_transcoder_speed": 1.01,
        "streamstack_live_latency_seconds": 2.4,
    }
    assert _stream_samples(registry, "ls_c") == {"streamstack_live_ingest_stall_seconds": 1.0}, "None: not written"
    assert registry.get_sample_value("streamstack_live_active_streams") == 2
    assert registry.get_sample_value("streamstack_live_parts_total") == 1
    metrics.forget_live_stream("ls_a")
    assert _stream_samples(registry, "ls_a") == {}, "no stale series after the stream ends"
    assert len(_stream_samples(registry, "ls_b")) == 5
    metrics.record_live_stream("ls_a", stall_seconds=0.0)  # the publisher returns: the series come back
    assert _stream_samples(registry, "ls_a") == {"streamstack_live_ingest_stall_seconds": 0.0}


def test_per_stream_metrics_are_cloudwatch_ready() -> None:
    """One dimension set per stream, and one rolled up to Service that a static alarm can watch."""
    assert PER_STREAM == [
        "streamstack_live_ingest_bitrate_bits_per_second",
        "streamstack_live_ingest_frames_per_second",
        "streamstack_live_ingest_stall_seconds",
        "streamstack_live_latency_seconds",
        "streamstack_live_transcoder_speed",
    ]
    units = {name: catalogue.METRICS[name].unit for name in PER_STREAM}
    assert units["streamstack_live_ingest_bitrate_bits_per_second"] == "Bits/Second"
    assert units["streamstack_live_ingest_stall_seconds"] == units["streamstack_live_latency_seconds"] == "Seconds"
    sink = emf.EmfSink(service="ingest", clock=lambda: 1.0)
    sink.add(catalogue.METRICS["streamstack_live_ingest_stall_seconds"], 3.0, {"live_stream_id": "ls_a"})
    sink.add(catalogue.METRICS["streamstack_live_active_streams"], 1.0, {})
    by_stream = {doc.get("live_stream_id"): doc for doc in sink.documents()}
    directive = by_stream["ls_a"]["_aws"]["CloudWatchMetrics"][0]
    assert directive["Dimensions"] == [["Service", "live_stream_id"], ["Service"]]
    assert directive["Metrics"] == [{"Name": "streamstack_live_ingest_stall_seconds", "Unit": "Seconds"}]
    assert by_stream["ls_a"]["streamstack_live_ingest_stall_seconds"] == 3.0
    assert by_stream[None]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]]


INGEST_CHILD = textwrap.dedent(
    """
    from streamstack.observability import metrics
    metrics.configure_metrics(service="ingest", enabled=True)
    for stream in ("ls_on", "ls_gone"):
        metrics.record_live_stream(stream, ingest_bitrate=1e6, ingest_frame_rate=25.0, stall_seconds=0.0,
                                   transcoder_speed=1.0, latency_seconds=2.0)
    metrics.forget_live_stream("ls_gone")
    """
)
SCRAPER = textwrap.dedent(
    """
    import subprocess, sys
    from pathlib import Path
    from prometheus_client import generate_latest
    from streamstack.observability import exposition
    env = exposition.prepare_multiprocess(Path(sys.argv[1]))
    import os
    subprocess.run([sys.executable, "-c", sys.argv[2]], env={**os.environ, **env}, check=True)
    sys.stdout.write(generate_latest(exposition.exposition_registry()).decode())
    """
)


def test_a_stream_that_ended_leaves_no_series_in_the_multiprocess_scrape(tmp_path: Path) -> None:
    """`up`: the ingest is its own process; files cannot delete a series, the scrape must still leave it out."""
    env = {key: value for key, value in os.environ.items() if key != "PROMETHEUS_MULTIPROC_DIR"}
    result = subprocess.run([sys.executable, "-c", SCRAPER, str(tmp_path / "prometheus"), INGEST_CHILD],
                            env=env, capture_output=True, text=True, timeout=60, check=True)  # fmt: skip
    streams: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(result.stdout):
        for sample in family.samples:
            if catalogue.STREAM_LABEL in sample.labels:
                assert not math.isnan(sample.value), sample
                streams.setdefault(sample.labels[catalogue.STREAM_LABEL], set()).add(sample.name)
    assert streams == {"ls_on": set(PER_STREAM)}


def test_status_names_a_stream_as_the_live_alerts_would() -> None:
    from streamstack.observability.status import LIVE_MIN_SPEED, LIVE_STALL_SECONDS, LiveStreamStatus

    assert LiveStreamStatus("ls", stall_seconds=0.3, transcoder_speed=1.0).state == "ok"
    assert LiveStreamStatus("ls").state == "ok", "nothing measured yet is not a fault"
    assert LiveStreamStatus("ls", stall_seconds=0.3, transcoder_speed=LIVE_MIN_SPEED - 0.01).state == "behind"
    assert LiveStreamStatus("ls", stall_seconds=LIVE_STALL_SECONDS + 1, transcoder_speed=0.1).state == "stalled"


def test_status_thresholds_are_the_alert_rules() -> None:
    import yaml

    from streamstack.observability.status import LIVE_MIN_SPEED, LIVE_STALL_SECONDS

    rules = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules.yml"
    exprs = {r["alert"]: r["expr"] for g in yaml.safe_load(rules.read_text())["groups"] for r in g["rules"]}
    assert f"streamstack_live_ingest_stall_seconds > {LIVE_STALL_SECONDS:g}" in exprs["StreamstackLiveIngestStalled"]
    assert f"streamstack_live_transcoder_speed < {LIVE_MIN_SPEED:g}" in exprs["StreamstackLiveTranscoderBehind"]
