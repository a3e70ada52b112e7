"""Terraform checked for real, offline: init from the provider mirror with the committed lock file, validate
the root and bootstrap, and plan every environment on an empty state (`terraform test`, mock providers) with
the ffmpeg encoder, with MediaConvert, and with a live event announced."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from streamstack.live.capacity import tasks_for
from tests.infra.hcl import ENVIRONMENTS, TF_ROOT, load
from tests.infra.terraform import PLAN_RUNS, PLAN_TEST_FILE, PROVIDER_VERSION, PlanTest, Workspace, make_workspace
from tests.infra.terraform import run_plan_tests as _run_plan_tests

pytestmark = pytest.mark.timeout(1800)

ROOTS = {"root": TF_ROOT, "bootstrap": TF_ROOT / "bootstrap"}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    return make_workspace(tmp_path_factory.mktemp("terraform"))


@pytest.fixture(scope="session")
def plan_tests(workspace: Workspace) -> dict[str, PlanTest]:
    return _run_plan_tests(workspace)


@pytest.mark.parametrize("name", ROOTS)
def test_configuration_is_valid(workspace: Workspace, name: str) -> None:
    chdir = workspace.root if name == "root" else workspace.root / "bootstrap"
    result = workspace.run("validate", "-json", "-no-color", chdir=chdir)
    report = json.loads(result.stdout)
    assert report["valid"], json.dumps(report["diagnostics"], indent=1)
    assert report["error_count"] == 0 and report["warning_count"] == 0, json.dumps(report["diagnostics"], indent=1)


@pytest.mark.parametrize("name", ROOTS)
def test_lock_file_pins_the_mirrored_provider_with_a_compatible_constraint(workspace: Workspace, name: str) -> None:
    lock = ROOTS[name] / ".terraform.lock.hcl"
    assert lock.is_file(), f"{lock} is not committed"
    text = lock.read_text()
    assert f'version     = "{PROVIDER_VERSION}"' in text
    assert 'constraints = "~> 5.100"' in text
    assert re.search(r'"h1:[A-Za-z0-9+/=]{44}"', text), "no h1 hash (the linux_amd64 package from the mirror)"
    assert len(re.findall(r'"zh:[0-9a-f]{64}"', text)) >= 10, "zh hashes of the registry's packages (every platform)"
    # init ran with -lockfile=readonly: the copy it used is byte for byte the committed one.
    copy = workspace.root / lock.relative_to(TF_ROOT)
    assert copy.read_text() == text


def _required_aws_versions() -> dict[str, str]:
    found = {}
    for path in TF_ROOT.rglob("versions.tf"):
        for block in load(path).get("terraform", []):
            for providers in block.get("required_providers", []):
                if "aws" in providers:
                    found[str(path.relative_to(TF_ROOT))] = providers["aws"]["version"]
    return found


def test_every_module_admits_only_compatible_5x_providers() -> None:
    versions = _required_aws_versions()
    assert len(versions) >= 13, versions
    assert set(versions.values()) == {"~> 5.100"}, versions


def test_plans_leave_computed_values_unknown() -> None:
    """Nothing tells the mocks to invent ids at plan: unknown stays unknown, as on a real first plan."""
    text = (TF_ROOT / PLAN_TEST_FILE).read_text()
    assert not re.search(r"override_during\s*=", text)
    assert text.count("command = plan") == len(PLAN_RUNS) and "command = apply" not in text


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_first_plan_on_an_empty_state(plan_tests: dict[str, PlanTest], environment: str) -> None:
    result = plan_tests[environment]
    assert result.returncode == 0 and not result.errors, result.report()
    assert {name: run.status for name, run in result.runs.items()} == dict.fromkeys(PLAN_RUNS, "pass")
    for name, run in result.runs.items():
        actions = {tuple(c["change"]["actions"]) for c in run.resource_changes if c["mode"] == "managed"}
        assert actions == {("create",)}, f"{name}: an empty state plans only creations, got {actions}"
        assert len(run.resource_changes) > 150, f"{name}: only {len(run.resource_changes)} resources planned"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_ids_aws_assigns_are_unknown_in_the_plan(plan_tests: dict[str, PlanTest], environment: str) -> None:
    run = plan_tests[environment].runs["ffmpeg"]
    bucket = run.change("module.cdn.module.media_bucket.aws_s3_bucket.this")
    assert bucket["after_unknown"].get("id") is True and bucket["after_unknown"].get("arn") is True
    assert bucket["after"]["bucket"] == f"{environment}-streamstack-media-111122223333"
    distribution = run.change("module.cdn.aws_cloudfront_distribution.this")
    assert distribution["after_unknown"].get("domain_name") is True


def _plan(plan_tests: dict[str, PlanTest], environment: str, run: str):  # type: ignore[no-untyped-def]
    result = plan_tests[environment]
    assert result.runs.get(run) and result.runs[run].resource_changes, result.report()
    return result.runs[run]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_media_bucket_access_logs_are_planned_although_the_log_bucket_is_new(
    plan_tests: dict[str, PlanTest], environment: str
) -> None:
    """Defect 3: a count on the new log bucket's id was "Invalid count argument" on the first plan."""
    run = _plan(plan_tests, environment, "ffmpeg")
    logging = run.changes("module.cdn.module.media_bucket.aws_s3_bucket_logging.this")
    assert [c["address"] for c in logging] == ["module.cdn.module.media_bucket.aws_s3_bucket_logging.this[0]"]
    assert logging[0]["change"]["after_unknown"].get("target_bucket") is True
    assert not run.changes("module.cdn.module.logs_bucket.aws_s3_bucket_logging.this")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_an_announced_live_event_prescales_api_and_edge_before_kickoff(
    plan_tests: dict[str, PlanTest], environment: str
) -> None:
    run = _plan(plan_tests, environment, "live_event")
    prefix = "module.api_service.aws_appautoscaling_scheduled_action"
    for service in ("api", "edge"):  # 200 000 viewers, by the same capacity figures as the app's pre-scaling
        tasks = tasks_for(service, 200_000)
        prescale = run.after(f'{prefix}.live_event_prescale["{service}-cup-final"]')
        assert prescale["schedule"] == "at(2030-06-01T19:00:00)" and prescale["timezone"] == "UTC"
        assert prescale["scalable_target_action"][0]["min_capacity"] == str(tasks)  # a string in the provider
        restore = run.after(f'{prefix}.live_event_restore["{service}-cup-final"]')
        assert restore["schedule"] == "at(2030-06-01T22:30:00)"
    assert not _plan(plan_tests, environment, "ffmpeg").changes(prefix)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_mediaconvert_resources_exist_only_with_encoder_mediaconvert(
    plan_tests: dict[str, PlanTest], environment: str
) -> None:
    role = "module.encoding.aws_iam_role.mediaconvert"
    assert [c["address"] for c in _plan(plan_tests, environment, "mediaconvert").changes(role)] == [f"{role}[0]"]
    assert not _plan(plan_tests, environment, "ffmpeg").changes(role)


def test_plan_test_file_is_the_one_the_runs_name(tmp_path: Path) -> None:
    text = (TF_ROOT / PLAN_TEST_FILE).read_text()
    assert re.findall(r'^run "([a-z_]+)"', text, flags=re.M) == list(PLAN_RUNS)


def _rule(acl: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in acl["rule"] if r["name"] == name)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_the_edge_origin_answers_only_requests_that_came_through_cloudfront(
    plan_tests: dict[str, PlanTest], environment: str
) -> None:
    """Defect 8: the load balancer forwarded anyone's request for the edge host, around the CDN's WAF and geo rules."""
    run = _plan(plan_tests, environment, "ffmpeg")
    forward = run.after("module.api_service.aws_lb_listener_rule.edge[0]")
    headers = [c["http_header"][0] for c in forward["condition"] if c.get("http_header")]
    assert [h["http_header_name"] for h in headers] == ["X-Origin-Verify"]
    assert [c["host_header"][0]["values"] for c in forward["condition"] if c.get("host_header")] == [
        ["edge-origin.example.com"]
    ]
    refuse = run.after("module.api_service.aws_lb_listener_rule.edge_direct[0]")
    assert refuse["priority"] > forward["priority"]
    assert refuse["action"][0]["type"] == "fixed-response"
    assert refuse["action"][0]["fixed_response"][0]["status_code"] == "403"
    distribution = run.change("module.cdn.aws_cloudfront_distribution.this")
    edge = next(o for o in distribution["after"]["origin"] if o["origin_id"] == "edge")
    assert [h["name"] for h in edge["custom_header"]] == ["X-Origin-Verify"]
    secret = run.change("terraform_data.origin_verify")
    assert secret["after_unknown"].get("output") is True, "a random value made at the first apply"
    assert distribution["after_unknown"]["web_acl_id"] is True  # the CloudFront WAF, always attached


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_waf_rate_rules_follow_the_capacity_model(plan_tests: dict[str, PlanTest], environment: str) -> None:
    """Defect 9: the ALB rule saw CloudFront's few addresses; the CDN rule blocked viewers sharing an address."""
    run = _plan(plan_tests, environment, "ffmpeg")
    cdn = _rule(run.after("module.cdn.module.waf.aws_wafv2_web_acl.this"), "rate-per-ip")
    cdn_rate = cdn["statement"][0]["rate_based_statement"][0]
    assert cdn_rate["aggregate_key_type"] == "IP"  # at CloudFront the client address is the viewer's
    assert cdn_rate["limit"] == 200 * 1500  # viewers per shared address x requests per LL-HLS viewer
    assert not cdn_rate["scope_down_statement"]
    alb = _rule(run.after("module.api_service.module.waf.aws_wafv2_web_acl.this"), "rate-per-ip")
    alb_rate = alb["statement"][0]["rate_based_statement"][0]
    assert alb_rate["aggregate_key_type"] == "IP" and alb_rate["limit"] == 2000
    match = alb_rate["scope_down_statement"][0]["not_statement"][0]["statement"][0]["byte_match_statement"][0]
    assert match["field_to_match"][0]["single_header"][0]["name"] == "x-origin-verify"
    assert match["positional_constraint"] == "EXACTLY"


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_cloudfront_tls_and_origin_shield(plan_tests: dict[str, PlanTest], environment: str) -> None:
    """Defect 12: TLSv1.2_2021 with the default certificate was a diff on every plan; no Origin Shield."""
    distribution = _plan(plan_tests, environment, "ffmpeg").after("module.cdn.aws_cloudfront_distribution.this")
    certificate = distribution["viewer_certificate"][0]
    assert certificate["cloudfront_default_certificate"] is True
    assert certificate["minimum_protocol_version"] == "TLSv1"  # what CloudFront keeps for *.cloudfront.net
    shields = {o["origin_id"]: o["origin_shield"] for o in distribution["origin"]}
    assert shields == {
        name: [{"enabled": True, "origin_shield_region": "eu-west-1"}] for name in ("edge", "media-s3")
    }


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_smaller_first_deploy_defects(plan_tests: dict[str, PlanTest], environment: str) -> None:
    """Defect 12: secrets' recovery window, unused MediaConvert queue, account-wide job events, Spot, Lambda quota."""
    ffmpeg = _plan(plan_tests, environment, "ffmpeg")
    mediaconvert = _plan(plan_tests, environment, "mediaconvert")
    for name in ("playback-signing-key", "webhook-signing-secret"):
        window = ffmpeg.after(f'aws_secretsmanager_secret.app["{name}"]')["recovery_window_in_days"]
        assert window == (0 if environment == "dev" else 30), name
    assert not [c for c in mediaconvert.resource_changes if c["type"] == "aws_media_convert_queue"]
    # The pattern names the new bucket (unknown until apply); test_modules reads its shape.
    assert mediaconvert.change("module.event_processor.aws_cloudwatch_event_rule.mediaconvert")["after_unknown"][
        "event_pattern"
    ]
    for handler in ("on_source_uploaded", "on_encoding_event"):
        function = ffmpeg.after(f'module.event_processor.aws_lambda_function.handler["{handler}"]')
        assert function["reserved_concurrent_executions"] == -1  # a new account cannot reserve any
    worker = ffmpeg.after('module.api_service.aws_ecs_service.this["worker"]')
    strategy = {s["capacity_provider"]: (s["base"], s["weight"]) for s in worker["capacity_provider_strategy"]}
    assert strategy == {"FARGATE": (1, 0), "FARGATE_SPOT": (0, 1)}
    api = ffmpeg.after('module.api_service.aws_ecs_service.this["api"]')
    assert [s["capacity_provider"] for s in api["capacity_provider_strategy"]] == ["FARGATE"]


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_live_ingest_listens_for_rtmp_and_srt_and_keeps_publishers_while_draining(
    plan_tests: dict[str, PlanTest], environment: str
) -> None:
    run = _plan(plan_tests, environment, "live_ingest")
    prefix = "module.live_ingest[0]."
    listeners = {c["index"]: c["change"]["after"] for c in run.changes(f"{prefix}aws_lb_listener.ingest")}
    assert {k: (v["protocol"], v["port"]) for k, v in listeners.items()} == {"rtmp": ("TCP", 1935),
                                                                             "srt": ("UDP", 8890)}  # fmt: skip
    for group in run.changes(f"{prefix}aws_lb_target_group.ingest"):
        after = group["change"]["after"]
        assert after["deregistration_delay"] == "3600" and after["target_type"] == "ip"
        assert after["health_check"][0]["protocol"] == "TCP" and after["health_check"][0]["port"] == "1935"
    assert run.after(f"{prefix}aws_lb.ingest")["load_balancer_type"] == "network"
    service = run.after(f"{prefix}aws_ecs_service.ingest")
    assert [s["capacity_provider"] for s in service["capacity_provider_strategy"]] == ["FARGATE"]
    assert not _plan(plan_tests, environment, "ffmpeg").changes("module.live_ingest")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_live_managed_prepares_medialive_and_mediapackage_only_when_chosen(
    plan_tests: dict[str, PlanTest], environment: str
) -> None:
    run = _plan(plan_tests, environment, "live_managed")
    group = run.after("module.live_managed[0].aws_media_packagev2_channel_group.this")
    assert group["name"] == f"{environment}-streamstack"
    rules = run.after("module.live_managed[0].aws_medialive_input_security_group.publishers")["whitelist_rules"]
    assert [r["cidr"] for r in rules] == ["0.0.0.0/0"]
    assert run.changes("module.live_managed[0].aws_iam_role.medialive")
    assert not _plan(plan_tests, environment, "ffmpeg").changes("module.live_managed")


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_live_managed_events_reach_the_events_queue(plan_tests: dict[str, PlanTest], environment: str) -> None:
    """MediaLive's channel events and this channel group's harvest notifications, by EventBridge rules."""
    run = _plan(plan_tests, environment, "live_managed")
    rules = "module.event_processor.aws_cloudwatch_event_rule.managed_live"
    medialive = json.loads(run.after(f'{rules}["medialive"]')["event_pattern"])
    assert medialive == {"source": ["aws.medialive"],
                         "detail-type": ["MediaLive Channel Alert", "MediaLive Channel State Change"]}  # fmt: skip
    harvests = json.loads(run.after(f'{rules}["mediapackagev2"]')["event_pattern"])
    assert harvests["detail-type"] == ["MediaPackageV2 HarvestJob Notification"]
    assert harvests["resources"] == [{"prefix": "arn:aws:mediapackagev2:eu-west-1:111122223333:channelGroup/"
                                                f"{environment}-streamstack/"}]  # fmt: skip
    assert run.changes("module.event_processor.aws_cloudwatch_event_target.managed_live")
    assert not _plan(plan_tests, environment, "ffmpeg").changes(rules)


@pytest.mark.parametrize("environment", ENVIRONMENTS)
def test_managed_live_plays_from_the_endpoints_through_cloudfront_signed(
    plan_tests: dict[str, PlanTest], environment: str
) -> None:
    """/out/v1/* goes to the channel group's egress through origin access control and Origin Shield, and
    only with a signature of the deployment's key group."""
    run = _plan(plan_tests, environment, "live_managed")
    oac = run.after("module.cdn.aws_cloudfront_origin_access_control.mediapackage[0]")
    assert (oac["origin_access_control_origin_type"], oac["signing_behavior"]) == ("mediapackagev2", "always")
    distribution = run.change("module.cdn.aws_cloudfront_distribution.this")
    (behavior,) = [b for b in distribution["after"]["ordered_cache_behavior"] if b["path_pattern"] == "/out/v1/*"]
    assert behavior["target_origin_id"] == "mediapackage" and behavior["viewer_protocol_policy"] == "redirect-to-https"
    assert distribution["after_unknown"]["ordered_cache_behavior"][
        distribution["after"]["ordered_cache_behavior"].index(behavior)]["trusted_key_groups"], "signed: the key group"
    (origin,) = [o for o in distribution["after"]["origin"] if o["origin_id"] == "mediapackage"]
    assert origin["origin_shield"][0]["enabled"] is True
    ffmpeg = _plan(plan_tests, environment, "ffmpeg").change("module.cdn.aws_cloudfront_distribution.this")
    assert all(b["path_pattern"] != "/out/v1/*" for b in ffmpeg["after"]["ordered_cache_behavior"])
