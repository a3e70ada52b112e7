"""Optional OpenTelemetry tracing: on when STREAMSTACK_TRACING_ENABLED is true and opentelemetry-sdk imports.

Otherwise every function here is a no-op, so callers never test for it and the core install stays small
(`pip install 'streamstack[tracing]'` adds the SDK, the OTLP exporter and the ASGI instrumentation). Spans are
exported over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT, the SDK's standard variable.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractContextManager, nullcontext
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from streamstack.settings import Settings

log = logging.getLogger(__name__)
_DISABLED: AbstractContextManager[Any] = nullcontext()


class _State:
    """The tracer once configured; None means tracing is off."""

    tracer: Any = None


_state = _State()


def configure_tracing(settings: Settings, *, service: str, exporter: Any = None) -> bool:
    """Start tracing for this process if enabled and installed; returns whether it is on."""
    _state.tracer = None
    if not settings.tracing_enabled:
        return False
    try:
        from opentelemetry import trace
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor
    except ImportError:
        log.warning("tracing enabled but opentelemetry-sdk is missing: pip install 'streamstack[tracing]'")
        return False
    provider = TracerProvider(resource=Resource.create({"service.name": f"streamstack-{service}"}))
    exporter = exporter or _otlp_exporter()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    _state.tracer = provider.get_tracer("streamstack")
    trace.set_tracer_provider(provider)
    return True


def _otlp_exporter() -> Any:
    try:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        log.warning("tracing on without an exporter: install opentelemetry-exporter-otlp-proto-http")
        return None
    return OTLPSpanExporter()


def tracing_enabled() -> bool:
    """Whether spans are being recorded in this process."""
    return _state.tracer is not None


def span(name: str, *, carrier: Mapping[str, Any] | None = None, **attributes: Any) -> AbstractContextManager[Any]:
    """`with span("encode", asset_id=...):`; a `carrier` (message attributes) continues the sender's trace."""
    if _state.tracer is None:
        return _DISABLED
    context = None
    if carrier is not None:
        from opentelemetry import propagate

        context = propagate.extract(_flat(carrier))
    return _state.tracer.start_as_current_span(name, context=context, attributes=attributes)


def inject_trace_context(attributes: Mapping[str, str] | None = None) -> dict[str, str]:
    """Message attributes plus `traceparent`, so the worker's span joins the API's trace."""
    result = dict(attributes or {})
    if _state.tracer is not None:
        from opentelemetry import propagate

        propagate.inject(result)
    return result


def _flat(carrier: Mapping[str, Any]) -> dict[str, str]:
    """Accept both flat attributes and Lambda's `{"stringValue": ...}` message attributes."""
    return {
        key: value.get("stringValue", "") if isinstance(value, Mapping) else str(value)
        for key, value in carrier.items()
    }


def current_trace_ids() -> dict[str, str]:
    """`trace_id` and `span_id` of the active span, for log correlation; empty when off."""
    if _state.tracer is None:
        return {}
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {"trace_id": format(context.trace_id, "032x"), "span_id": format(context.span_id, "016x")}


def instrument_app(app: Any) -> bool:
    """Add OpenTelemetry's ASGI middleware when tracing is on and the instrumentation is installed."""
    if _state.tracer is None:
        return False
    try:
        from opentelemetry.instrumentation.asgi import OpenTelemetryMiddleware
    except ImportError:
        log.warning("no request spans: install opentelemetry-instrumentation-asgi")
        return False
    app.add_middleware(OpenTelemetryMiddleware)
    return True
