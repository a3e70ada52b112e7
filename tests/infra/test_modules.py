"""What issue 6 asks of each module, checked on the parsed HCL."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.hcl import (
    ENVIRONMENTS,
    ENVIRONMENTS_DIR,
    MODULES_DIR,
    TF_ROOT,
    load,
    load_dir,
    locals_of,
    module_dirs,
    one,
    resource,
    resources,
    variables,
)

NETWORK = MODULES_DIR / "network"
API = MODULES_DIR / "api_service"
CDN = MODULES_DIR / "cdn"
EVENTS = MODULES_DIR / "event_processor"
ENCODING = MODULES_DIR / "encoding"
DATABASE = MODULES_DIR / "database"
STATE = MODULES_DIR / "state"
BUCKET = MODULES_DIR / "private_bucket"
WAF = MODULES_DIR / "web_acl"


def _types(directory) -> set[str]:  # type: ignore[no-untyped-def]
    return {t for t, _, _ in resources(directory)}


# network ----------------------------------------------------------------------------------------


def test_network_has_azs_nat_and_endpoints() -> None:
    az = variables(NETWORK)["az_count"]
    assert "contains([2, 3], var.az_count)" in one(az["validation"])["condition"]
    assert resource(NETWORK, "aws_nat_gateway", "this")["count"] == "${local.nat_count}"
    assert "var.enable_nat_gateway" in locals_of(NETWORK)["nat_count"]
    assert resource(NETWORK, "aws_vpc_endpoint", "s3")["vpc_endpoint_type"] == "Gateway"
    assert resource(NETWORK, "aws_vpc_endpoint", "dynamodb")["vpc_endpoint_type"] == "Gateway"
    assert set(variables(NETWORK)["interface_endpoints"]["default"]) == {
        "sqs",
        "secretsmanager",
        "ecr.api",
        "ecr.dkr",
        "logs",
    }


# api_service ------------------------------------------------------------------------------------


def test_alb_https_redirect_and_header_hygiene() -> None:
    alb = resource(API, "aws_lb", "this")
    assert alb["drop_invalid_header_fields"] is True
    https = resource(API, "aws_lb_listener", "https")
    assert https["protocol"] == "HTTPS" and https["certificate_arn"] == "${var.acm_certificate_arn}"
    assert https["ssl_policy"].startswith("ELBSecurityPolicy-TLS13-1-2")
    redirect = one(one(resource(API, "aws_lb_listener", "http")["default_action"])["redirect"])
    assert redirect["protocol"] == "HTTPS" and redirect["status_code"] == "HTTP_301"
    health = one(resource(API, "aws_lb_target_group", "this")["health_check"])
    assert '"/readyz"' in health["path"]


def test_ecs_cluster_services_and_scaling() -> None:
    cluster = resource(API, "aws_ecs_cluster", "this")
    assert one(cluster["setting"]) == {"name": "containerInsights", "value": "enabled"}
    breaker = one(resource(API, "aws_ecs_service", "this")["deployment_circuit_breaker"])
    assert breaker == {"enable": True, "rollback": True}
    metrics = {
        one(
            one(resource(API, "aws_appautoscaling_policy", name)["target_tracking_scaling_policy_configuration"])[
                "predefined_metric_specification"
            ]
        )["predefined_metric_type"]
        for name in ("requests", "cpu")
    }
    assert metrics == {"ALBRequestCountPerTarget", "ECSServiceAverageCPUUtilization"}
    definition = resource(API, "aws_ecs_task_definition", "this")["container_definitions"]
    assert "readonlyRootFilesystem" in definition and "secrets" in definition


def test_live_events_prescale_before_kickoff_and_restore_after() -> None:
    live = variables(API)["live_events"]
    assert {"name", "start_time", "expected_viewers", "duration_minutes"} <= set(re.findall(r"(\w+) = ", live["type"]))
    actions = locals_of(API)["live_event_actions"]
    assert '"-${var.live_event_lead_minutes}m"' in actions and "e.expected_viewers" in actions
    prescale = resource(API, "aws_appautoscaling_scheduled_action", "live_event_prescale")
    restore = resource(API, "aws_appautoscaling_scheduled_action", "live_event_restore")
    assert prescale["schedule"] == "at(${each.value.prescale})" and prescale["timezone"] == "UTC"
    assert restore["schedule"] == "at(${each.value.restore})"
    assert one(prescale["scalable_target_action"])["min_capacity"] == "${each.value.min}"


# cdn --------------------------------------------------------------------------------------------


def _call(module: Path, name: str, source: str) -> dict:
    """Inputs of the module call `name` in `module`, which must call `source`."""
    call = next(b[name] for b in load_dir(module)["module"] if name in b)
    assert call["source"] == source, call["source"]
    return call


def _bucket(module: Path, name: str) -> dict:
    """Inputs of a private_bucket module call."""
    return _call(module, name, "../private_bucket")


def test_every_bucket_is_a_private_bucket() -> None:
    """The only aws_s3_bucket is private_bucket's: versioned, encrypted, public access blocked, HTTPS only."""
    owners = {d.name for d in module_dirs() if any(t == "aws_s3_bucket" for t, _, _ in resources(d))}
    assert owners == {"private_bucket"}
    assert one(resource(BUCKET, "aws_s3_bucket_versioning", "this")["versioning_configuration"])["status"] == "Enabled"
    block = resource(BUCKET, "aws_s3_bucket_public_access_block", "this")
    assert all(
        block[k] is True
        for k in ("block_public_acls", "block_public_policy", "ignore_public_acls", "restrict_public_buckets")
    )
    sse = one(one(resource(BUCKET, "aws_s3_bucket_server_side_encryption_configuration", "this")["rule"]))
    assert "aws:kms" in one(sse["apply_server_side_encryption_by_default"])["sse_algorithm"]
    assert variables(BUCKET)["object_ownership"]["default"] == "BucketOwnerEnforced"
    policy = resource(BUCKET, "aws_iam_policy_document", "this", kind="data")
    deny = one(policy["statement"])
    assert deny["effect"] == "Deny" and one(deny["condition"])["variable"] == "aws:SecureTransport"
    assert policy["source_policy_documents"] == "${var.policy_documents}"
    # checkov cannot see this rule beside the dynamic ones (CKV_AWS_300 is suppressed for that reason).
    abort = one(resource(BUCKET, "aws_s3_bucket_lifecycle_configuration", "this")["rule"])
    assert abort["status"] == "Enabled" and abort["filter"] == [{}], abort
    assert one(abort["abort_incomplete_multipart_upload"])["days_after_initiation"] == (
        "${var.abort_incomplete_upload_days}"
    )


def test_bucket_exceptions_stay_with_the_one_caller_that_needs_them() -> None:
    """private_bucket suppresses CKV2_AWS_65, CKV_AWS_145 and CKV_AWS_18 for every caller; these hold the line."""
    calls = {
        (module.name, name): body
        for module in module_dirs()
        for block in load_dir(module).get("module", [])
        for name, body in block.items()
        if body["source"] == "../private_bucket"
    }
    assert set(calls) == {
        ("cdn", "media_bucket"),
        ("cdn", "logs_bucket"),
        ("api_service", "alb_logs_bucket"),
        ("state", "bucket"),
    }
    assert {key for key, call in calls.items() if "object_ownership" in call} == {("cdn", "logs_bucket")}
    assert {key for key, call in calls.items() if "kms_key_arn" in call} == {("state", "bucket")}
    assert {key for key, call in calls.items() if "access_log" in call} == {("cdn", "media_bucket")}


def test_media_bucket_is_private_encrypted_versioned() -> None:
    media = _bucket(CDN, "media_bucket")
    assert "object_ownership" not in media, "the media bucket keeps BucketOwnerEnforced"
    assert media["access_log"] == {"bucket": "${module.logs_bucket.id}"}
    # Only the module's own statements, plus what a caller passes (MediaPackage v2 harvest writes, live_managed).
    assert media["policy_documents"] == (
        "${concat([data.aws_iam_policy_document.media.json], var.media_bucket_policy_documents)}"
    )
    rules = {rule["id"]: rule for rule in media["lifecycle_rules"]}
    assert media["abort_incomplete_upload_days"] == 7 and "noncurrent-versions" in rules
    assert rules["abandoned-upload-tails"]["prefix"] == "uploads/"


def test_cloudfront_oac_behaviors_tls_logging_metrics() -> None:
    oac = resource(CDN, "aws_cloudfront_origin_access_control", "media")
    assert oac["signing_behavior"] == "always" and oac["origin_access_control_origin_type"] == "s3"
    dist = resource(CDN, "aws_cloudfront_distribution", "this")
    s3_origin = dist["origin"][0]
    assert s3_origin["origin_access_control_id"] == "${aws_cloudfront_origin_access_control.media.id}"
    behaviors = {b["path_pattern"]: b for b in dist["ordered_cache_behavior"]}
    assert behaviors["/assets/*"]["cache_policy_id"] == "${aws_cloudfront_cache_policy.segments.id}"
    assert behaviors["/assets/*.m3u8"]["cache_policy_id"] == "${aws_cloudfront_cache_policy.playlists.id}"
    assert "aws_cloudfront_key_group.signing.id" in behaviors["/assets/*"]["trusted_key_groups"]
    tls = one(dist["viewer_certificate"])["minimum_protocol_version"]
    assert tls == '${var.acm_certificate_arn == null ? "TLSv1" : "TLSv1.2_2021"}', tls
    assert one(dist["logging_config"])["bucket"]
    assert dist["web_acl_id"] == "${module.waf.arn}"
    subscription = one(resource(CDN, "aws_cloudfront_monitoring_subscription", "this")["monitoring_subscription"])
    assert one(subscription["realtime_metrics_subscription_config"])["realtime_metrics_subscription_status"] == (
        "Enabled"
    )
    policy = resource(CDN, "aws_iam_policy_document", "media", kind="data")
    condition = one(policy["statement"][0]["condition"])
    assert condition["values"] == ["${aws_cloudfront_distribution.this.arn}"]
    # Unrecorded live sessions (live/) are private: played through the edge by playback id, never from the bucket.
    assert policy["statement"][0]["resources"] == ["${module.media_bucket.arn}/assets/*"]
    assert not any(path.startswith("/live") for path in behaviors), "a path straight to live/ objects"


def test_cache_policies_segments_long_playlists_short_signing_only_at_the_edge() -> None:
    cdn_vars = variables(CDN)
    assert cdn_vars["segment_ttl_seconds"]["default"] >= 86400 * 30
    assert cdn_vars["playlist_ttl_seconds"]["default"] <= 10

    def keys(name: str) -> dict:
        policy = resource(CDN, "aws_cloudfront_cache_policy", name)
        params = one(policy["parameters_in_cache_key_and_forwarded_to_origin"])
        return {
            "cookies": one(params["cookies_config"])["cookie_behavior"],
            "query": one(params["query_strings_config"])["query_string_behavior"],
        }

    assert keys("segments") == {"cookies": "none", "query": "none"}
    assert keys("playlists") == {"cookies": "none", "query": "none"}
    assert keys("edge") == {"cookies": "whitelist", "query": "whitelist"}
    signing = locals_of(CDN)
    assert signing["signing_query_strings"] == ["Policy", "Expires", "Signature", "Key-Pair-Id", "Hash-Algorithm"]


def test_waf_is_cloudfront_scoped_in_us_east_1_with_managed_and_rate_rules() -> None:
    acl = resource(WAF, "aws_wafv2_web_acl", "this")
    assert acl["scope"] == "${var.scope}"
    groups = {
        one(one(rule["statement"])["managed_rule_group_statement"])["name"]
        for rule in acl["rule"]
        if "managed_rule_group_statement" in one(rule["statement"])
    }
    assert {"AWSManagedRulesCommonRuleSet", "AWSManagedRulesKnownBadInputsRuleSet"} <= groups
    assert any("rate_based_statement" in one(rule["statement"]) for rule in acl["rule"])
    logging = resource(WAF, "aws_wafv2_web_acl_logging_configuration", "this")
    assert logging["log_destination_configs"] == ["${aws_cloudwatch_log_group.this.arn}"]
    cloudfront = _call(CDN, "waf", "../web_acl")
    assert cloudfront["scope"] == "CLOUDFRONT" and cloudfront["providers"] == {"aws": "${aws.us_east_1}"}
    assert cloudfront["anonymous_ip_action"] == "${var.anonymous_ip_action}"
    alb = _call(API, "waf", "../web_acl")
    assert alb["scope"] == "REGIONAL" and alb["common_rules_to_count"] == ["SizeRestrictions_BODY"]
    assert resource(API, "aws_wafv2_web_acl_association", "alb")["web_acl_arn"] == "${module.waf.arn}"
    versions = load(CDN / "versions.tf")["terraform"][0]["required_providers"][0]["aws"]
    assert "aws.us_east_1" in str(versions["configuration_aliases"])


def test_every_queue_has_an_encrypted_dlq_with_max_receive_count() -> None:
    queue = resource(EVENTS, "aws_sqs_queue", "this")
    dlq = resource(EVENTS, "aws_sqs_queue", "dlq")
    assert queue["for_each"] == dlq["for_each"] == "${local.queues}"
    assert queue["sqs_managed_sse_enabled"] is True and dlq["sqs_managed_sse_enabled"] is True
    assert "deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn" in queue["redrive_policy"]
    assert "maxReceiveCount = var.max_receive_count" in queue["redrive_policy"]
    assert variables(EVENTS)["max_receive_count"]["default"] == 5


def test_event_sources_report_batch_item_failures_with_maximum_concurrency() -> None:
    mapping = resource(EVENTS, "aws_lambda_event_source_mapping", "handler")
    assert mapping["function_response_types"] == ["ReportBatchItemFailures"]
    assert one(mapping["scaling_config"])["maximum_concurrency"] == "${var.maximum_concurrency}"
    function = resource(EVENTS, "aws_lambda_function", "handler")
    reserved = function["reserved_concurrent_executions"]
    assert reserved == "${var.reserved_concurrency == null ? -1 : var.reserved_concurrency}"
    assert function["timeout"] == "${var.lambda_timeout_seconds}"
    assert resource(EVENTS, "aws_cloudwatch_log_group", "handler")["retention_in_days"] == "${var.log_retention_days}"


def test_lambda_queues_are_invisible_for_at_least_six_timeouts() -> None:
    event_locals = locals_of(EVENTS)
    assert event_locals["lambda_visibility_timeout"] == (
        "${var.lambda_timeout_seconds * var.visibility_timeout_multiplier}"
    )
    for fed in {h["queue"] for h in event_locals["handlers"].values()}:
        assert event_locals["queues"][fed] == "${local.lambda_visibility_timeout}", fed
    multiplier = variables(EVENTS)["visibility_timeout_multiplier"]
    assert multiplier["default"] >= 6
    assert one(multiplier["validation"])["condition"] == "${var.visibility_timeout_multiplier >= 6}"


def test_start_and_finish_events_are_wired() -> None:
    notification = one(resource(EVENTS, "aws_s3_bucket_notification", "sources")["queue"])
    assert notification["filter_prefix"] == "sources/" and notification["events"] == ["s3:ObjectCreated:*"]
    pattern = resource(EVENTS, "aws_cloudwatch_event_rule", "mediaconvert")["event_pattern"]
    assert '"aws.mediaconvert"' in pattern and '"MediaConvert Job State Change"' in pattern
    # Only this deployment's jobs (environments may share an account): the bucket they write to.
    assert "detail = {userMetadata = {bucket = [var.media_bucket_name]}}" in pattern, pattern
    assert resource(EVENTS, "aws_cloudwatch_event_target", "mediaconvert")["arn"] == (
        '${aws_sqs_queue.this["events"].arn}'
    )


# encoding, database, state ------------------------------------------------------------------------


def test_worker_scales_on_backlog_per_task_and_mediaconvert_is_optional() -> None:
    policy = resource(ENCODING, "aws_appautoscaling_policy", "backlog_per_task")
    spec = one(one(policy["target_tracking_scaling_policy_configuration"])["customized_metric_specification"])
    names = [one(one(m["metric_stat"])["metric"])["metric_name"] for m in spec["metrics"] if "metric_stat" in m]
    assert names == ["ApproximateNumberOfMessagesVisible", "RunningTaskCount"]
    assert [m for m in spec["metrics"] if m.get("return_data")][0]["id"] == "backlog_per_task"
    assert resource(ENCODING, "aws_iam_role", "mediaconvert")["count"] == "${var.enable_mediaconvert ? 1 : 0}"
    assert "aws_media_convert_queue" not in _types(ENCODING), "jobs go to the Default queue: no unused queue"


def test_rds_is_encrypted_with_managed_password_and_prod_protection() -> None:
    db = resource(DATABASE, "aws_db_instance", "this")
    assert db["engine"] == "postgres" and db["storage_encrypted"] is True
    assert db["manage_master_user_password"] is True and db["publicly_accessible"] is False
    assert db["multi_az"] == "${var.multi_az}" and db["deletion_protection"] == "${var.deletion_protection}"
    assert db["backup_retention_period"] == "${var.backup_retention_days}"
    prod = load(ENVIRONMENTS_DIR / "prod" / "terraform.tfvars")
    assert prod["db_multi_az"] is True and prod["deletion_protection"] is True


def test_state_bucket_is_versioned_encrypted_private_and_lock_table_optional() -> None:
    state = _bucket(STATE, "bucket")  # versioned and private as every private_bucket
    assert state["kms_key_arn"] == "${module.key.arn}"
    assert resource(STATE, "aws_dynamodb_table", "lock")["count"] == "${var.create_lock_table ? 1 : 0}"


# environments -----------------------------------------------------------------------------------


# Inputs no environment commits: CI passes the image, and account-specific ones come from account.tfvars.
PER_DEPLOY_INPUTS = {"container_image", "lambda_package"}
ACCOUNT_INPUTS = {"region", "api_certificate_arn", "signing_public_keys"}


def test_each_environment_has_its_own_s3_state_with_lockfile() -> None:
    backend = one(one(load(TF_ROOT / "versions.tf")["terraform"][0]["backend"])["s3"])
    assert backend["use_lockfile"] is True and backend["encrypt"] is True
    assert not {"bucket", "region", "key"} & set(backend), "per environment or account: pass with -backend-config"
    assert "aws.us_east_1" not in str(load(TF_ROOT / "versions.tf")), "the root configures its providers itself"
    aliases = {one(p["aws"]).get("alias") for p in load(TF_ROOT / "providers.tf")["provider"]}
    assert aliases == {None, "us_east_1"}
    keys = set()
    for env in ENVIRONMENTS:
        config = load(ENVIRONMENTS_DIR / env / "backend.hcl")
        assert set(config) == {"key"}, f"{env}/backend.hcl: only the state key is committed"
        assert env in config["key"]
        keys.add(config["key"])
    assert len(keys) == len(ENVIRONMENTS)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_environment_values_are_root_inputs_and_complete_the_required_ones(env: str) -> None:
    values = load(ENVIRONMENTS_DIR / env / "terraform.tfvars")
    root = variables(TF_ROOT)
    assert values["environment"] == env
    assert isinstance(values["live_events"], list)
    assert set(values) <= set(root), f"{env}: not root inputs: {sorted(set(values) - set(root))}"
    assert not set(values) & (PER_DEPLOY_INPUTS | ACCOUNT_INPUTS), f"{env}: commits an account or deploy input"
    required = {name for name, body in root.items() if "default" not in body}
    missing = required - set(values) - PER_DEPLOY_INPUTS - ACCOUNT_INPUTS
    assert not missing, f"{env}: required root inputs nobody passes: {sorted(missing)}"
