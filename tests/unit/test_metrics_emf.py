"""CloudWatch Embedded Metric Format output: valid documents under the same names as Prometheus."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest

from streamstack.observability import catalogue, metrics
from streamstack.observability.emf import MAX_VALUES_PER_METRIC, EmfSink

CLOUDWATCH_UNITS = {"Seconds", "Count", "Bytes", "Bits/Second", "None"}


pytestmark = pytest.mark.usefixtures("fresh_metrics")


def assert_valid_emf(document: dict[str, Any]) -> None:
    """The EMF specification's structural rules, checked on one document."""
    aws = document["_aws"]
    assert isinstance(aws["Timestamp"], int) and aws["Timestamp"] > 1_600_000_000_000
    assert aws["CloudWatchMetrics"], "at least one metric directive"
    for directive in aws["CloudWatchMetrics"]:
        assert directive["Namespace"] == "Streamstack"
        for dimension_set in directive["Dimensions"]:
            assert 1 <= len(dimension_set) <= 30
            assert all(isinstance(document[name], str) for name in dimension_set)
        assert 1 <= len(directive["Metrics"]) <= 100
        for metric in directive["Metrics"]:
            assert metric["Unit"] in CLOUDWATCH_UNITS
            value = document[metric["Name"]]
            values = value if isinstance(value, list) else [value]
            assert 1 <= len(values) <= MAX_VALUES_PER_METRIC
            assert all(isinstance(v, int | float) for v in values)


def lines(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_sink_writes_one_valid_line_per_dimension_set() -> None:
    out = io.StringIO()
    sink = EmfSink(service="worker", stream=out, clock=lambda: 1_700_000_000.5)
    defs = catalogue.METRICS
    sink.add(defs["streamstack_handler_errors_total"], 1, {"event_type": "encode"})
    sink.add(defs["streamstack_handler_errors_total"], 1, {"event_type": "encode"})
    sink.add(defs["streamstack_handler_duration_seconds"], 0.5, {"event_type": "encode"})
    sink.add(defs["streamstack_handler_duration_seconds"], 1.5, {"event_type": "encode"})
    sink.add(defs["streamstack_handler_errors_total"], 1, {"event_type": "job_state"})
    sink.add(defs["streamstack_queue_dlq_depth"], 3, {"queue": "encode"})
    sink.add(defs["streamstack_queue_dlq_depth"], 1, {"queue": "encode"})
    sink.flush()

    documents = lines(out)
    assert len(documents) == 3
    for document in documents:
        assert_valid_emf(document)
    encode = next(d for d in documents if d.get("event_type") == "encode")
    assert encode["_aws"]["Timestamp"] == 1_700_000_000_500
    assert encode["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service", "event_type"]]
    assert encode["Service"] == "worker"
    assert encode["streamstack_handler_errors_total"] == 2
    assert encode["streamstack_handler_duration_seconds"] == [0.5, 1.5]
    dlq = next(d for d in documents if "queue" in d)
    assert dlq["streamstack_queue_dlq_depth"] == 1, "gauges keep the last value"


def test_flush_empties_the_buffer() -> None:
    out = io.StringIO()
    sink = EmfSink(service="lambda", stream=out)
    sink.add(catalogue.METRICS["streamstack_webhook_attempts_total"], 1, {})
    assert len(sink.flush()) == 1
    assert sink.flush() == []
    assert len(out.getvalue().splitlines()) == 1


def test_histograms_flush_before_exceeding_the_value_limit() -> None:
    out = io.StringIO()
    sink = EmfSink(service="lambda", stream=out)
    for _ in range(MAX_VALUES_PER_METRIC + 5):
        sink.add(catalogue.METRICS["streamstack_webhook_delivery_seconds"], 0.1, {})
    sink.flush()
    for document in lines(out):
        assert_valid_emf(document)
    observations = sum(len(d["streamstack_webhook_delivery_seconds"]) for d in lines(out))
    assert observations == MAX_VALUES_PER_METRIC + 5


def test_api_request_labels_are_aggregated_away() -> None:
    documents = metrics.emit_emf(
        {"streamstack_api_5xx_total": 2},
        service="api",
        labels={"route": "/v1/assets/{asset_id}", "method": "GET"},
        stream=io.StringIO(),
    )
    assert_valid_emf(documents[0])
    assert "route" not in documents[0] and "method" not in documents[0]
    assert documents[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == [["Service"]]


def test_every_metric_has_the_same_name_in_emf_and_prometheus() -> None:
    out = io.StringIO()
    sink = EmfSink(service="api", stream=out)
    for definition in catalogue.METRICS.values():
        sink.add(definition, 1.0, dict.fromkeys(definition.labels, "x"))
    directives = [doc["_aws"]["CloudWatchMetrics"][0] for doc in sink.flush()]
    names = {metric["Name"] for directive in directives for metric in directive["Metrics"]}
    assert names == set(catalogue.METRICS)


def test_lambda_decorator_flushes_emf_to_stdout_each_invocation(capsys: pytest.CaptureFixture[str]) -> None:
    from streamstack.observability import setup_process
    from streamstack.settings import Settings

    setup_process(service="lambda", settings=Settings())  # what the Lambda runtime does on its first invocation

    @metrics.lambda_metrics
    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        with metrics.observe_handler("sqs_encode"):
            metrics.record_encoding_state("completed")
        return {"batchItemFailures": []}

    assert handler({}, None) == {"batchItemFailures": []}
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    for document in documents:
        assert_valid_emf(document)
        assert document["Service"] == "lambda"
    by_name = {name: doc[name] for doc in documents for name in doc if name.startswith("streamstack_")}
    assert by_name["streamstack_encoding_jobs_total"] == 1
    assert len(by_name["streamstack_handler_duration_seconds"]) == 1
    assert list(metrics.get_registry().collect()) == [], "Prometheus is off under Lambda"
