"""The app <-> infra contract: env vars are Settings fields, handler paths and entry points exist,
alarms and dashboards watch metrics the app emits (name, namespace, dimensions)."""

from __future__ import annotations

import importlib
import json
import re
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from tests.infra.hcl import (
    MODULES_DIR,
    TF_ROOT,
    all_roots,
    load_dir,
    locals_of,
    one,
    outputs,
    resolve,
    resource,
    resources,
)
from tests.infra.terraform import terraform_binary

ROOT = TF_ROOT
API_SERVICE = MODULES_DIR / "api_service"
EVENT_PROCESSOR = MODULES_DIR / "event_processor"
MONITORING = MODULES_DIR / "monitoring"
ALARMS = MONITORING / "alarms"

# Variables that tasks may set outside STREAMSTACK_*: libpq reads the RDS password from PGPASSWORD (migrate only).
THIRD_PARTY_ENV = {"PGPASSWORD"}
ENV_NAME = re.compile(r"^[A-Z][A-Z0-9_]*$")

REQUIRED_APP_ENV = {
    "STREAMSTACK_PROFILE",
    "STREAMSTACK_AWS_REGION",
    "STREAMSTACK_S3_BUCKET",
    "STREAMSTACK_ENCODE_QUEUE",
    "STREAMSTACK_EVENTS_QUEUE",
    "STREAMSTACK_ENCODER",
    "STREAMSTACK_MEDIACONVERT_ROLE_ARN",
    "STREAMSTACK_SECRETS_BACKEND",
    "STREAMSTACK_DATABASE_URL",
    "STREAMSTACK_AUTO_MIGRATE",
    "STREAMSTACK_PUBLIC_EDGE_URL",
    "STREAMSTACK_LOG_LEVEL",
}


def _environment_maps() -> dict[str, dict[str, Any]]:
    """Every map of environment variables that reaches a task definition or a Lambda function."""
    root_locals = locals_of(ROOT)
    return {
        "root app_environment_all": root_locals["app_environment_all"],
        "root migrate_environment": root_locals["migrate_environment"],
        "root migrate_secrets": root_locals["migrate_secrets"],
        "api_service container_defaults": locals_of(API_SERVICE)["container_defaults"],
        "event_processor handler_environment": locals_of(EVENT_PROCESSOR)["handler_environment"],
    }


def _read_outside_settings() -> set[str]:
    """STREAMSTACK_* names that app code reads directly rather than through Settings (named by its constants)."""
    from streamstack.events import lambda_handlers

    return {lambda_handlers.IDEMPOTENCY_TABLE_ENV}


def _settings_env_names() -> set[str]:
    from streamstack.settings import Settings

    return {f"STREAMSTACK_{name.upper()}" for name in Settings.model_fields}


def test_the_checked_maps_are_what_tasks_and_functions_get() -> None:
    root_locals = locals_of(ROOT)
    assert "local.app_environment_all" in root_locals["app_environment"]
    modules = {name: body for block in load_dir(ROOT)["module"] for name, body in block.items()}
    assert modules["api_service"]["environment"] == "${local.app_environment}"
    assert modules["api_service"]["migrate_environment"] == "${local.migrate_environment}"
    assert modules["api_service"]["migrate_secrets"] == "${local.migrate_secrets}"
    assert modules["event_processor"]["environment"] == "${local.app_environment}"
    service_locals = locals_of(API_SERVICE)
    assert "local.container_defaults" in service_locals["container_environment"]
    assert "local.container_environment" in service_locals["task_environment"]
    assert "var.migrate_environment" in service_locals["task_environment"]
    assert "var.migrate_secrets" in service_locals["task_secrets"]
    function = resource(EVENT_PROCESSOR, "aws_lambda_function", "handler")
    assert one(function["environment"])["variables"] == "${merge(var.environment, local.handler_environment)}"
    definition = str(resource(API_SERVICE, "aws_ecs_task_definition", "this")["container_definitions"])
    assert "local.task_environment" in definition and "local.task_secrets" in definition


def test_every_env_var_set_for_tasks_and_lambdas_is_a_settings_field() -> None:
    fields = _settings_env_names() | _read_outside_settings()
    set_names: set[str] = set()
    for where, env in _environment_maps().items():
        for name in env:
            assert ENV_NAME.match(name), f"{where}: {name!r} is not an environment variable name"
            assert name.startswith("STREAMSTACK_") or name in THIRD_PARTY_ENV, f"{where}: unexpected {name}"
            set_names.add(name)
    unknown = sorted(n for n in set_names if n.startswith("STREAMSTACK_") and n not in fields)
    assert not unknown, f"set in Terraform but not fields of streamstack.settings.Settings: {unknown}"
    assert set_names >= REQUIRED_APP_ENV, f"missing: {sorted(REQUIRED_APP_ENV - set_names)}"
    assert _read_outside_settings() <= set_names, "the handlers' idempotency table is not passed"


def test_no_streamstack_variable_anywhere_in_terraform_is_unknown_to_settings() -> None:
    fields = _settings_env_names() | _read_outside_settings()
    found = set()
    for path in TF_ROOT.rglob("*.tf"):
        found |= set(re.findall(r"\bSTREAMSTACK_[A-Z0-9_]+\b", path.read_text()))
    assert found, "no STREAMSTACK_ variable found at all"
    assert found <= fields, f"unknown to Settings: {sorted(found - fields)}"


def test_literal_env_values_are_valid_settings() -> None:
    from streamstack.settings import Settings

    literal: dict[str, Any] = {}
    for name, value in locals_of(ROOT)["app_environment_all"].items():
        value = resolve(value, ROOT)
        if isinstance(value, str) and "${" not in value:
            literal[name.removeprefix("STREAMSTACK_").lower()] = value
    assert literal["profile"] == "aws" and literal["auto_migrate"] == "false" and literal["secrets_backend"] == "aws"
    Settings(**literal)  # raises on a value the app would reject at start


def _handler_paths() -> dict[str, str]:
    return {name: h["handler"] for name, h in locals_of(EVENT_PROCESSOR)["handlers"].items()}


def test_handler_paths_are_the_contract() -> None:
    assert _handler_paths() == {
        "on_source_uploaded": "streamstack.events.lambda_handlers.on_source_uploaded",
        "on_encoding_event": "streamstack.events.lambda_handlers.on_encoding_event",
    }
    assert locals_of(EVENT_PROCESSOR)["lambda_runtime"] == "python3.12"


@pytest.mark.parametrize("name", ["on_source_uploaded", "on_encoding_event"])
def test_lambda_handler_path_imports(name: str) -> None:
    module_path, _, attribute = _handler_paths()[name].rpartition(".")
    module = importlib.import_module(module_path)
    assert callable(getattr(module, attribute)), f"{module_path}.{attribute} is not callable"


def _task_commands() -> dict[str, list[str]]:
    return {name: c["command"] for name, c in locals_of(API_SERVICE)["containers"].items()}


def test_task_commands_are_the_image_entry_points() -> None:
    assert _task_commands() == {
        "api": ["api"],
        "worker": ["worker"],
        "edge": ["edge"],
        "migrate": ["db", "upgrade"],
    }


@pytest.mark.parametrize("service", ["api", "worker", "edge", "migrate"])
def test_task_command_exists_in_the_cli(service: str) -> None:
    from typer.testing import CliRunner

    from streamstack.cli import app

    arguments = ["--app-user", "streamstack_app"] if service == "migrate" else []  # root main.tf: migrate_arguments
    result = CliRunner().invoke(app, [*_task_commands()[service], *arguments, "--help"])
    assert result.exit_code == 0, f"`streamstack {' '.join(_task_commands()[service])} --help`: {result.output}"


# Native AWS metrics the alarms and dashboard may use, by namespace (names as AWS documents them).
AWS_METRICS = {
    "AWS/ApplicationELB": {"HTTPCode_ELB_5XX_Count", "HTTPCode_Target_5XX_Count", "RequestCount", "TargetResponseTime"},
    "AWS/CloudFront": {"5xxErrorRate", "CacheHitRate", "Requests", "4xxErrorRate", "TotalErrorRate"},
    "AWS/SQS": {"ApproximateNumberOfMessagesVisible", "ApproximateAgeOfOldestMessage"},
    "AWS/Lambda": {"Errors", "Duration", "Throttles", "Invocations", "ConcurrentExecutions"},
    # MediaLive User Guide, "Monitoring channels using Amazon CloudWatch metrics" (dimensions ChannelId, Pipeline)
    "AWS/MediaLive": {"ActiveAlerts", "InputVideoFrameRate", "InputLossSeconds", "DroppedFrames"},
}
AWS_DIMENSIONS = {
    "AWS/ApplicationELB": {"LoadBalancer"},
    "AWS/CloudFront": {"DistributionId", "Region"},
    "AWS/SQS": {"QueueName"},
    "AWS/Lambda": {"FunctionName"},
}


# Required inputs of the monitoring module, enough to evaluate what its alarms watch.
MONITORING_INPUTS = {
    "name": "prod-streamstack",
    "alb_arn_suffix": "app/prod-streamstack/0123456789abcdef",
    "distribution_id": "E2EXAMPLE",
    "queue_names": {"sources": "prod-streamstack-sources", "encode": "prod-streamstack-encode"},
    "dlq_names": {"sources": "prod-streamstack-sources-dlq", "encode": "prod-streamstack-encode-dlq"},
    "function_names": {"on_source_uploaded": "prod-streamstack-on-source-uploaded"},
    "function_timeouts": {"on_source_uploaded": 60},
    "kms_key_arn": "arn:aws:kms:example",
}


@cache
def _alarm_definitions() -> dict[str, dict[str, Any]]:
    """monitoring's alarm definitions (alarms.tf) as `terraform console` evaluates them, by alarm name suffix."""
    terraform = terraform_binary()
    with tempfile.TemporaryDirectory() as work:
        shutil.copy(MONITORING / "variables.tf", work)
        shutil.copy(MONITORING / "alarms.tf", work)
        (Path(work) / "terraform.tfvars.json").write_text(json.dumps(MONITORING_INPUTS))
        result = subprocess.run(
            [terraform, "console"],
            input="jsonencode(merge(local.alarms, local.cloudfront_alarms))",
            cwd=work,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 0, result.stderr
    return json.loads(json.loads(result.stdout.strip()))


def _alarm_metrics() -> list[tuple[str, str, str, dict[str, str]]]:
    """(alarm, namespace, metric name, dimensions) of every metric every alarm reads."""
    found = []
    for name, alarm in _alarm_definitions().items():
        specs = [alarm] if alarm.get("metric_name") else list(alarm.get("metrics", {}).values())
        assert specs, f"alarm {name} reads no metric"
        for spec in specs:
            found.append((name, spec["namespace"], spec["metric_name"], spec.get("dimensions") or {}))
    return found


def test_alarms_cover_the_monitoring_list() -> None:
    watched = {(ns, name) for _, ns, name, _ in _alarm_metrics()}
    for needed in [
        ("AWS/ApplicationELB", "HTTPCode_ELB_5XX_Count"),
        ("AWS/ApplicationELB", "HTTPCode_Target_5XX_Count"),
        ("AWS/ApplicationELB", "RequestCount"),
        ("AWS/ApplicationELB", "TargetResponseTime"),
        ("AWS/CloudFront", "5xxErrorRate"),
        ("AWS/CloudFront", "CacheHitRate"),
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/SQS", "ApproximateAgeOfOldestMessage"),
        ("AWS/Lambda", "Errors"),
        ("AWS/Lambda", "Duration"),
        ("AWS/Lambda", "Throttles"),
        ("Streamstack", "streamstack_encoding_jobs_total"),
        ("Streamstack", "streamstack_live_ingest_stall_seconds"),
        ("Streamstack", "streamstack_live_transcoder_speed"),
    ]:
        assert needed in watched, f"no alarm on {needed}"


def test_every_alarm_notifies_the_sns_topic() -> None:
    alarm_types = {(d, t) for d in all_roots() for t, _, _ in resources(d) if t == "aws_cloudwatch_metric_alarm"}
    assert alarm_types == {(ALARMS, "aws_cloudwatch_metric_alarm")}, "every alarm comes from monitoring/alarms"
    alarm = resource(ALARMS, "aws_cloudwatch_metric_alarm", "this")
    assert alarm["alarm_actions"] == alarm["ok_actions"] == ["${aws_sns_topic.this.arn}"]
    calls = {
        name: body
        for block in load_dir(MONITORING)["module"]
        for name, body in block.items()
        if body["source"] == "./alarms"
    }
    assert calls["alarms"]["alarms"] == "${local.alarms}"
    assert calls["cloudfront_alarms"]["alarms"] == "${local.cloudfront_alarms}"
    assert calls["cloudfront_alarms"]["providers"] == {"aws": "${aws.us_east_1}"}
    for name, call in calls.items():
        assert call["topic_name"].startswith("${var.name}-"), f"{name}: topic {call['topic_name']}"


def test_every_alarm_metric_is_one_the_app_or_aws_emits() -> None:
    from streamstack.observability import catalogue, emf

    app_alarms = 0
    for alarm, namespace, name, dimensions in _alarm_metrics():
        if namespace.startswith("AWS/"):
            assert name in AWS_METRICS[namespace], f"{alarm}: {namespace} has no metric {name}"
            assert set(dimensions) <= AWS_DIMENSIONS[namespace], f"{alarm}: dimensions {dimensions}"
            continue
        app_alarms += 1
        assert namespace == emf.NAMESPACE, f"{alarm}: namespace {namespace!r}, the app writes {emf.NAMESPACE!r}"
        assert name in catalogue.METRICS, f"{alarm}: the app emits no metric {name}"
        definition = catalogue.METRICS[name]
        written = [set(dimension_set) for dimension_set in definition.emf_dimension_sets]
        assert set(dimensions) in written, f"{alarm}: dimensions {sorted(dimensions)}, the app writes {written}"
        assert dimensions["Service"] in catalogue.SERVICES, f"{alarm}: Service={dimensions['Service']}"
        known_values = {"state": catalogue.ENCODING_STATES, "cache_result": catalogue.CACHE_RESULTS}
        for label, value in dimensions.items():
            if label in known_values:
                assert value in known_values[label], f"{alarm}: {label}={value}"
    assert app_alarms >= 2, "expected alarms on the app's own metrics"


def test_dashboard_names_only_metrics_the_app_emits() -> None:
    from streamstack.observability import catalogue

    text = (MONITORING / "main.tf").read_text()
    dashboard = text[text.index("# Dashboard") :]
    named = set(re.findall(r"\bstreamstack_[a-z0-9_]+\b", dashboard))
    assert len(named) >= 10, named
    assert named <= set(catalogue.METRICS), f"not emitted by the app: {sorted(named - set(catalogue.METRICS))}"


def test_the_dashboard_shows_medialive_channels_only_for_managed_live() -> None:
    """MediaLive's own metrics stand in for the ingest's live metrics, which a managed stream does not emit: a
    panel of them (names AWS documents) is added exactly when the root module's live_encoder is medialive."""
    (panel,) = locals_of(MONITORING)["managed_live_panels"]
    searches = [row[0]["expression"] for row in panel["metrics"]]
    named = {re.search(r'MetricName=\\?"(\w+)', e).group(1) for e in searches}  # type: ignore[union-attr]
    assert all(e.startswith("SEARCH('{AWS/MediaLive,ChannelId,Pipeline}") for e in searches), searches
    assert named == AWS_METRICS["AWS/MediaLive"]
    widgets = locals_of(MONITORING)["dashboard_widgets"]
    assert "concat(local.dashboard_panels, var.managed_live ? local.managed_live_panels : [])" in widgets
    modules = {name: body for block in load_dir(ROOT)["module"] for name, body in block.items()}
    assert modules["monitoring"]["managed_live"] == '${var.live_encoder == "medialive"}'


def test_only_the_migrate_task_holds_a_database_password() -> None:
    """Defect 6: the app connects as a passwordless user with IAM tokens, TLS verified; migrate keeps the master."""
    root_locals = locals_of(ROOT)
    app = root_locals["app_environment_all"]
    assert app["STREAMSTACK_DATABASE_URL"] == "${module.database.app_database_url}"
    assert app["STREAMSTACK_DATABASE_IAM_AUTH"] == "true"
    migrate = root_locals["migrate_environment"]
    assert migrate == {"STREAMSTACK_DATABASE_URL": "${module.database.database_url}",
                       "STREAMSTACK_DATABASE_IAM_AUTH": "false"}
    assert set(root_locals["migrate_secrets"]) == {"PGPASSWORD"}
    modules = {name: body for block in load_dir(ROOT)["module"] for name, body in block.items()}
    assert modules["api_service"]["migrate_arguments"] == ["--app-user", "${module.database.app_username}"]
    definition = str(resource(API_SERVICE, "aws_ecs_task_definition", "this")["container_definitions"])
    assert "var.migrate_arguments" in definition
    database = outputs(MODULES_DIR / "database")
    for name in ("database_url", "app_database_url"):
        assert "${local.tls}" in database[name]["value"] and ":" not in database[name]["value"].split("@")[0][13:]
    tls = locals_of(MODULES_DIR / "database")["tls"]
    assert "sslmode=verify-full" in tls and "sslrootcert=${var.ca_bundle_path}" in tls
    secrets = resource(ROOT, "aws_secretsmanager_secret", "app")
    assert "database-url" not in str(secrets["for_each"]), "the stale copy of the master password is back"


def test_rds_connect_is_granted_to_the_app_roles_on_the_app_user_only() -> None:
    documents = {name: body for rtype, name, body in resources(ROOT, "data") if rtype == "aws_iam_policy_document"}
    connect = one(documents["connect_database"]["statement"])
    assert connect["actions"] == ["rds-db:connect"] and connect["resources"] == ["${module.database.app_user_arn}"]
    assert "dbuser:${aws_db_instance.this.resource_id}/${var.app_username}" in (
        outputs(MODULES_DIR / "database")["app_user_arn"]["value"])
    granted = {name for name, body in documents.items()
               if "${data.aws_iam_policy_document.connect_database.json}" in body.get("source_policy_documents", [])}
    assert granted == {"api", "worker", "edge", "ingest", "on_source_uploaded", "on_encoding_event"}
