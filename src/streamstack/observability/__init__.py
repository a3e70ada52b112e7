"""Observability: Prometheus and CloudWatch EMF metrics, JSON logs, optional tracing, wired in one call."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from streamstack.observability import exposition, metrics, tracing
from streamstack.observability import logging as structured_logging

if TYPE_CHECKING:
    from streamstack.settings import Settings


def setup_process(*, service: str, settings: Settings) -> None:
    """First call of every process (api, edge, worker, supervisor, lambda): logs, metrics switches, tracing.

    Observability gets its settings here, once; nothing in it reads the environment later. In Lambda,
    Powertools' Logger owns the logs and metrics go out as EMF on stdout, flushed per invocation. Every
    service of the aws shape (api, edge, worker, ingest) writes EMF too, beside `/metrics`: no scraper runs
    there, and the CloudWatch alarms and dashboard read these; it is flushed on a period and at exit.
    """
    lambda_shape = service == "lambda"
    if not lambda_shape:
        structured_logging.configure_logging(settings, service=service)
    emf = lambda_shape or settings.profile == "aws"
    metrics.configure_metrics(service=service, settings=settings, prometheus=not lambda_shape, emf=emf)
    if emf and not lambda_shape:
        metrics.start_emf_flushing()
    tracing.configure_tracing(settings, service=service)


def instrument_app(
    app: Any,
    *,
    service: str,
    settings: Settings,
    before_scrape: Callable[[], None] | None = None,
) -> None:
    """One line after creating the API or edge app: request ids, metrics middleware and `/metrics`, spans.

    `before_scrape` refreshes pull-based gauges on each scrape, e.g. `lambda: metrics.refresh_queue(queue)`.
    """
    app.add_middleware(structured_logging.RequestContextMiddleware)
    exposition.instrument_app(app, service=service, settings=settings, before_scrape=before_scrape)
    tracing.instrument_app(app)


__all__ = ["instrument_app", "metrics", "setup_process", "structured_logging", "tracing"]
