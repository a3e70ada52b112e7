"""Live observability: the encoder's speed against real time, parts published, active streams."""

from __future__ import annotations

from streamstack.live.session import SpeedMeter
from streamstack.observability import catalogue, metrics


def test_speed_is_media_seconds_per_wall_second_over_the_window() -> None:
    meter = SpeedMeter()
    assert meter.add(0.5, now=0.0) is None, "no figure before two seconds of samples"
    for step in range(1, 9):  # a part of 0.5 s every 0.5 s: real time
        speed = meter.add(0.5, now=step * 0.5)
    assert speed == 1.0
    slow = SpeedMeter()
    for step in range(0, 12):  # a part of 0.5 s every second: half real time, the alert's case
        value = slow.add(0.5, now=float(step))
    assert value == 0.5


def test_live_metrics_are_in_the_catalogue_and_recorded() -> None:
    metrics.reset_instruments()
    metrics.configure_metrics(service="ingest", enabled=True)
    try:
        metrics.set_live_active_streams(2)
        metrics.observe_live_part(0.004)
        metrics.set_live_transcoder_speed(0.8)
        registry = metrics.get_registry()
        assert registry.get_sample_value("streamstack_live_active_streams") == 2
        assert registry.get_sample_value("streamstack_live_parts_total") == 1
        assert registry.get_sample_value("streamstack_live_part_publish_seconds_count") == 1
        assert registry.get_sample_value("streamstack_live_transcoder_speed") == 0.8
        assert catalogue.METRICS["streamstack_live_active_streams"].unit == "Count"
    finally:
        metrics.reset_instruments()
        metrics.configure_metrics(service="api", enabled=True)
