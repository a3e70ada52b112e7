"""Optional tracing: a no-op unless enabled and installed; when on, spans cross the queue and reach the logs."""

from __future__ import annotations

import importlib.util
import io
import json
import logging
from collections.abc import Iterator
from contextlib import nullcontext

import pytest

from streamstack.observability import logging as slog
from streamstack.observability import tracing
from streamstack.settings import Settings

HAS_SDK = importlib.util.find_spec("opentelemetry.sdk") is not None


@pytest.fixture(autouse=True)
def tracing_off_afterwards() -> Iterator[None]:
    yield
    tracing.configure_tracing(Settings(tracing_enabled=False), service="api")


def test_disabled_tracing_is_a_no_op() -> None:
    assert tracing.configure_tracing(Settings(tracing_enabled=False), service="api") is False
    assert isinstance(tracing.span("encode", asset_id="as_1"), nullcontext)
    assert tracing.inject_trace_context({"request_id": "r"}) == {"request_id": "r"}
    assert tracing.current_trace_ids() == {}
    assert tracing.instrument_app(object()) is False


@pytest.mark.skipif(HAS_SDK, reason="checks the path where opentelemetry-sdk is not installed")
def test_enabled_without_the_sdk_stays_off(caplog: pytest.LogCaptureFixture) -> None:
    assert tracing.configure_tracing(Settings(tracing_enabled=True), service="api") is False
    assert "streamstack[tracing]" in caplog.text
    assert not tracing.tracing_enabled()


@pytest.mark.skipif(not HAS_SDK, reason="opentelemetry-sdk not installed (pip install 'streamstack[tracing]')")
def test_spans_continue_across_message_attributes_and_reach_logs() -> None:
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    assert tracing.configure_tracing(Settings(tracing_enabled=True), service="api", exporter=exporter)
    out = io.StringIO()
    handler = slog.configure_logging(Settings(), service="worker", stream=out)
    try:
        with tracing.span("api.create_asset"):
            attributes = tracing.inject_trace_context({"request_id": "r1"})
        with tracing.span("worker.encode", carrier=attributes, asset_id="as_1"):
            logging.getLogger("streamstack.test").info("encoding")
    finally:
        logging.getLogger().removeHandler(handler)
    line = json.loads(out.getvalue().splitlines()[-1])
    assert "traceparent" in attributes
    assert line["trace_id"] == attributes["traceparent"].split("-")[1]
