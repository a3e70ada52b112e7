"""The metrics contract, the recording helpers, the ASGI middleware and `/metrics`."""

from __future__ import annotations

import asyncio
import json

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient
from starlette.applications import Starlette
from starlette.responses import PlainTextResponse
from starlette.routing import Mount, Route

from streamstack import observability
from streamstack.delivery.metering import ServedCounters
from streamstack.observability import catalogue, exposition, metrics
from streamstack.queue.base import QueueStats
from streamstack.settings import Settings

ENABLED = Settings(metrics_enabled=True)

CONTRACT = {
    "streamstack_api_request_duration_seconds": ("histogram", ("route", "method", "status_class")),
    "streamstack_api_5xx_total": ("counter", ("route", "method")),
    "streamstack_edge_requests_total": ("counter", ("cache_result",)),
    "streamstack_edge_bytes_total": ("counter", ("cache_result",)),
    "streamstack_edge_cache_hit_ratio": ("gauge", ()),
    "streamstack_edge_origin_fetch_seconds": ("histogram", ()),
    "streamstack_encoding_jobs_total": ("counter", ("state",)),
    "streamstack_encoding_job_duration_seconds": ("histogram", ()),
    "streamstack_time_to_playable_seconds": ("histogram", ()),
    "streamstack_queue_depth": ("gauge", ("queue",)),
    "streamstack_queue_oldest_message_age_seconds": ("gauge", ("queue",)),
    "streamstack_queue_dlq_depth": ("gauge", ("queue",)),
    "streamstack_handler_duration_seconds": ("histogram", ("event_type",)),
    "streamstack_handler_errors_total": ("counter", ("event_type",)),
    "streamstack_webhook_attempts_total": ("counter", ()),
    "streamstack_process_restarts_total": ("counter", ("process",)),
    "streamstack_webhook_failures_total": ("counter", ()),
    "streamstack_webhook_delivery_seconds": ("histogram", ()),
    "streamstack_lambda_records_total": ("counter", ("handler", "outcome")),
    "streamstack_worker_heartbeat_timestamp_seconds": ("gauge", ()),
}


pytestmark = pytest.mark.usefixtures("fresh_metrics")


def sample(name: str, **labels: str) -> float | None:
    return metrics.get_registry().get_sample_value(name, labels)


def test_every_contract_metric_is_defined_with_its_kind_and_labels() -> None:
    for name, (kind, labels) in CONTRACT.items():
        definition = catalogue.METRICS[name]
        assert (definition.kind, definition.labels) == (kind, labels), name


def test_names_units_and_emf_dimensions_follow_the_conventions() -> None:
    for definition in catalogue.METRICS.values():
        assert definition.name.startswith("streamstack_")
        assert definition.name.endswith("_total") == (definition.kind == "counter"), definition.name
        assert definition.cloudwatch_name == definition.name
        assert definition.emf_dimensions[0] == "Service"
        assert not set(definition.emf_dimensions) & {"route", "method", "status_class"}
        assert definition.unit in {"Seconds", "Count", "Bytes", "Bits/Second", "Count/Second", "None"}
    assert catalogue.METRICS["streamstack_queue_dlq_depth"].emf_dimensions == ("Service", "queue")
    assert catalogue.METRICS["streamstack_api_request_duration_seconds"].emf_dimensions == ("Service",)


def test_contract_is_machine_readable() -> None:
    rows = {row["name"]: row for row in catalogue.contract()}
    assert set(CONTRACT) <= set(rows)
    assert rows["streamstack_handler_errors_total"]["emf_dimensions"] == ["Service", "event_type"]
    assert rows["streamstack_handler_errors_total"]["namespace"] == "Streamstack"
    assert json.loads(json.dumps(catalogue.contract())) == catalogue.contract()


def test_helpers_record_under_the_contract_names() -> None:
    metrics.record_encoding_state("completed")
    metrics.observe_encoding_job(42.0)
    metrics.observe_time_to_playable(50.0)
    served = ServedCounters(publish=False)  # the edge's counters, published here as its schedule does
    served.add("hit", 1000)
    served.add("miss", 500)
    served.publish()
    metrics.observe_origin_fetch(0.2)
    metrics.record_webhook_attempt(0.3, ok=False)
    metrics.record_lambda_batch("source_uploaded", processed=3, failed=1)
    metrics.heartbeat()

    assert sample("streamstack_encoding_jobs_total", state="completed") == 1
    assert sample("streamstack_encoding_job_duration_seconds_sum") == 42.0
    assert sample("streamstack_time_to_playable_seconds_count") == 1
    assert sample("streamstack_edge_requests_total", cache_result="hit") == 1
    assert sample("streamstack_edge_bytes_total", cache_result="miss") == 500
    assert sample("streamstack_edge_cache_hit_ratio") == pytest.approx(0.5)
    assert sample("streamstack_edge_origin_fetch_seconds_count") == 1
    assert sample("streamstack_webhook_attempts_total") == 1
    assert sample("streamstack_webhook_failures_total") == 1
    assert sample("streamstack_webhook_delivery_seconds_count") == 1
    assert sample("streamstack_lambda_records_total", handler="source_uploaded", outcome="processed") == 3
    assert sample("streamstack_lambda_records_total", handler="source_uploaded", outcome="failed") == 1
    assert sample("streamstack_worker_heartbeat_timestamp_seconds") > 1.7e9


def test_label_values_outside_the_contract_are_refused() -> None:
    with pytest.raises(ValueError, match="state"):
        metrics.record_encoding_state("done")


def test_coalesced_requests_count_as_hits_in_the_ratio() -> None:
    served = ServedCounters(publish=False)
    for _ in range(3):
        served.add("coalesced", 10)
    served.publish()
    assert sample("streamstack_edge_cache_hit_ratio") == pytest.approx(1.0)


def test_the_hit_ratio_covers_the_responses_since_its_last_update() -> None:
    served = ServedCounters(publish=False)
    served.add("miss", 10)
    served.publish()
    served.add("hit", 10)
    served.add("coalesced", 10)
    served.add("miss", 10)
    served.publish()
    assert sample("streamstack_edge_cache_hit_ratio") == pytest.approx(2 / 3)


def test_observe_handler_times_every_run_and_counts_errors() -> None:
    with metrics.observe_handler("s3_object_created"):
        pass
    with pytest.raises(RuntimeError), metrics.observe_handler("s3_object_created"):
        raise RuntimeError("boom")
    assert sample("streamstack_handler_duration_seconds_count", event_type="s3_object_created") == 2
    assert sample("streamstack_handler_errors_total", event_type="s3_object_created") == 1


def test_queue_gauges_come_from_queue_stats() -> None:
    stats = QueueStats(visible=3, in_flight=1, delayed=1, oldest_age_seconds=12.5)
    dlq = QueueStats(visible=1, in_flight=0, delayed=0, oldest_age_seconds=99.0)
    metrics.update_queue_gauges("encode", stats, dlq)
    assert sample("streamstack_queue_depth", queue="encode") == 5
    assert sample("streamstack_queue_oldest_message_age_seconds", queue="encode") == 12.5
    assert sample("streamstack_queue_dlq_depth", queue="encode") == 1


def test_refresh_queue_survives_an_unavailable_backend() -> None:
    class Broken:
        name = "events"

        def stats(self) -> QueueStats:
            raise OSError("database is locked")

        def dlq_stats(self) -> QueueStats:
            raise AssertionError("not reached")

    metrics.refresh_queue(Broken())
    assert sample("streamstack_queue_depth", queue="events") is None


def test_disabled_metrics_record_nothing() -> None:
    metrics.configure_metrics(service="api", enabled=False)
    metrics.record_encoding_state("queued")
    ServedCounters(publish=True).add("hit", 1)
    metrics.update_queue_gauges("encode", QueueStats(1, 0, 0, 1.0))
    metrics.heartbeat()
    with metrics.observe_handler("x"):
        pass
    assert list(metrics.get_registry().collect()) == []


def test_disabled_metrics_add_no_middleware_and_no_endpoint() -> None:
    app = FastAPI()
    exposition.instrument_app(app, service="api", settings=Settings(metrics_enabled=False))
    assert app.user_middleware == []
    assert all(getattr(route, "path", None) != "/metrics" for route in app.routes)


def api_app() -> FastAPI:
    app = FastAPI()
    router = APIRouter(prefix="/v1")

    @router.get("/assets/{asset_id}")
    def get_asset(asset_id: str) -> dict[str, str]:
        return {"id": asset_id}

    @router.post("/assets/{asset_id}/fail")
    def fail(asset_id: str) -> None:
        raise RuntimeError("bug")

    @router.get("/busy")
    def busy() -> PlainTextResponse:
        return PlainTextResponse("later", status_code=503)

    app.include_router(router)
    exposition.instrument_app(app, service="api", settings=ENABLED)
    return app


def test_middleware_records_route_templates_status_classes_and_5xx() -> None:
    client = TestClient(api_app(), raise_server_exceptions=False)
    for asset_id in ("a1", "a2", "a3"):
        assert client.get(f"/v1/assets/{asset_id}").status_code == 200
    assert client.post("/v1/assets/a1/fail").status_code == 500
    assert client.get("/v1/busy").status_code == 503
    assert client.get("/nope").status_code == 404

    ok = {"route": "/v1/assets/{asset_id}", "method": "GET", "status_class": "2xx"}
    assert sample("streamstack_api_request_duration_seconds_count", **ok) == 3
    failed = {"route": "/v1/assets/{asset_id}/fail", "method": "POST"}
    assert sample("streamstack_api_request_duration_seconds_count", **failed, status_class="5xx") == 1
    assert sample("streamstack_api_5xx_total", **failed) == 1
    assert sample("streamstack_api_5xx_total", route="/v1/busy", method="GET") == 1
    unmatched = {"route": exposition.UNMATCHED_ROUTE, "method": "GET", "status_class": "4xx"}
    assert sample("streamstack_api_request_duration_seconds_count", **unmatched) == 1


def test_metrics_endpoint_serves_the_exposition_and_is_not_self_counted() -> None:
    client = TestClient(api_app())
    client.get("/v1/assets/a1")
    body = client.get("/metrics").text
    client.get("/metrics")
    assert 'streamstack_api_request_duration_seconds_count{method="GET",route="/v1/assets/{asset_id}"' in body
    assert "/metrics" not in body
    assert "_created" not in body


def test_edge_app_records_edge_metrics_and_mount_prefixes() -> None:
    async def segment(request):  # type: ignore[no-untyped-def]
        return PlainTextResponse("x")

    app = Starlette(routes=[Mount("/live", routes=[Route("/{playback_id}/{segment}", segment)])])
    exposition.instrument_app(app, service="edge", settings=ENABLED)
    TestClient(app).get("/live/pb1/seg1.m4s")
    labels = {"route": "/live/{playback_id}/{segment}", "method": "GET", "status_class": "2xx"}
    assert sample("streamstack_edge_request_duration_seconds_count", **labels) == 1
    assert sample("streamstack_api_request_duration_seconds_count", **labels) is None


def test_before_scrape_refreshes_pull_based_gauges() -> None:
    stats = QueueStats(visible=0, in_flight=0, delayed=0, oldest_age_seconds=0.0)
    dlq = QueueStats(visible=1, in_flight=0, delayed=0, oldest_age_seconds=5.0)
    app = Starlette()
    exposition.mount_metrics(app, before_scrape=lambda: metrics.update_queue_gauges("encode", stats, dlq))
    assert 'streamstack_queue_dlq_depth{queue="encode"} 1.0' in TestClient(app).get("/metrics").text


def test_configure_refuses_an_unknown_service() -> None:
    with pytest.raises(ValueError, match="service"):
        metrics.configure_metrics(service="encoder", enabled=True)


def test_one_line_wiring_gives_request_ids_metrics_and_scrape_refresh() -> None:
    app = FastAPI()

    @app.get("/v1/assets/{asset_id}")
    def get_asset(asset_id: str) -> dict[str, str]:
        return {"id": asset_id}

    dlq = QueueStats(visible=1, in_flight=0, delayed=0, oldest_age_seconds=5.0)
    observability.instrument_app(
        app, service="api", settings=ENABLED, before_scrape=lambda: metrics.update_queue_gauges("encode", dlq, dlq)
    )
    client = TestClient(app)
    assert client.get("/v1/assets/a1", headers={"X-Request-ID": "r-1"}).headers["x-request-id"] == "r-1"
    scraped = client.get("/metrics").text
    assert 'streamstack_queue_dlq_depth{queue="encode"} 1.0' in scraped
    assert 'route="/v1/assets/{asset_id}"' in scraped


def test_a_tallied_histogram_exposes_what_observing_each_value_would(fresh_metrics) -> None:  # type: ignore[no-untyped-def]
    """The edge adds its request durations up in the process; the series written must be prometheus_client's own."""
    from prometheus_client import CollectorRegistry, Histogram

    name = "streamstack_edge_request_duration_seconds"
    values = [0.0001, 0.005, 0.0051, 0.3, 0.3, 42.0]  # under the first bound, on one, just past, twice, past the last
    fresh_metrics.configure_metrics(service="edge", enabled=True)
    tally = metrics.HistogramTally(name, interval=3600)
    ok, missing = {"route": "/{playback_id}/{path}", "method": "GET"}, {"route": "unmatched", "method": "HEAD"}

    async def serve() -> float | None:
        for value in values:  # on the event loop: the first is written at once, the rest wait for the interval
            tally.observe(value, ok["route"], ok["method"], "2xx")
        tally.observe(0.02, missing["route"], missing["method"], "4xx")
        return sample(f"{name}_count", **ok, status_class="2xx")

    assert asyncio.run(serve()) == 1
    tally.flush()

    reference_registry = CollectorRegistry()
    reference = Histogram("reference", "", buckets=catalogue.LATENCY_BUCKETS, registry=reference_registry)
    for value in values:
        reference.observe(value)
    for bound in (*catalogue.LATENCY_BUCKETS, float("inf")):
        le = "+Inf" if bound == float("inf") else str(bound)
        expected = reference_registry.get_sample_value("reference_bucket", {"le": le})
        assert sample(f"{name}_bucket", **ok, status_class="2xx", le=le) == expected, le
    assert sample(f"{name}_count", **ok, status_class="2xx") == len(values)
    assert sample(f"{name}_sum", **ok, status_class="2xx") == pytest.approx(sum(values))
    assert sample(f"{name}_count", **missing, status_class="4xx") == 1
    assert sample(f"{name}_sum", **missing, status_class="4xx") == pytest.approx(0.02)
    tally.flush()  # nothing new: nothing added twice
    assert sample(f"{name}_count", **ok, status_class="2xx") == len(values)
