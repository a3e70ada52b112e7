"""Conventions of infra/terraform (terraform-aws-modules style): parseable, typed, described, tagged, prefixed."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.infra.hcl import (
    MODULE_NAMES,
    MODULES_DIR,
    TF_ROOT,
    all_roots,
    load,
    load_dir,
    locals_of,
    module_dirs,
    outputs,
    resources,
    tf_files,
    variables,
)

# Resource types the AWS provider cannot tag; every other resource must pass tags.
NOT_TAGGABLE = {
    "aws_appautoscaling_policy",
    "aws_appautoscaling_scheduled_action",
    "aws_cloudfront_cache_policy",
    "aws_cloudfront_key_group",
    "aws_cloudfront_monitoring_subscription",
    "aws_cloudfront_origin_access_control",
    "aws_cloudfront_public_key",
    "aws_cloudfront_response_headers_policy",
    "aws_cloudwatch_dashboard",
    "aws_cloudwatch_event_target",
    "aws_ecr_lifecycle_policy",
    "aws_ecr_repository_policy",
    "aws_ecs_cluster_capacity_providers",
    "aws_iam_role_policy",
    "aws_iam_role_policy_attachment",
    "aws_kms_alias",
    "aws_route",
    "aws_route_table_association",
    "aws_s3_bucket_cors_configuration",
    "aws_s3_bucket_lifecycle_configuration",
    "aws_s3_bucket_logging",
    "aws_s3_bucket_notification",
    "aws_s3_bucket_ownership_controls",
    "aws_s3_bucket_policy",
    "aws_s3_bucket_public_access_block",
    "aws_s3_bucket_server_side_encryption_configuration",
    "aws_s3_bucket_versioning",
    "aws_sns_topic_subscription",
    "aws_sqs_queue_policy",
    "aws_sqs_queue_redrive_allow_policy",
    "aws_wafv2_web_acl_association",
    "aws_wafv2_web_acl_logging_configuration",
    "terraform_data",
}

# Attributes that name a resource in AWS; they must start from var.name (which starts with the environment).
NAME_ATTRIBUTES = ("name", "function_name", "alarm_name", "family", "identifier", "dashboard_name", "bucket")


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_every_tf_file_parses(path: Path) -> None:
    parsed = load(path)
    assert parsed, f"{path} parsed to nothing"


def test_tree_is_complete() -> None:
    assert (TF_ROOT / "main.tf").is_file() and (TF_ROOT / "variables.tf").is_file()
    assert (TF_ROOT / "outputs.tf").is_file() and (TF_ROOT / "versions.tf").is_file()
    for env in ("dev", "staging", "prod"):
        for name in ("backend.hcl", "terraform.tfvars"):
            assert (TF_ROOT / "environments" / env / name).is_file(), f"environments/{env} lacks {name}"
    assert sorted(p.name for p in MODULES_DIR.iterdir() if p.is_dir()) == sorted(MODULE_NAMES)


@pytest.mark.parametrize("module", module_dirs(), ids=lambda p: p.name)
def test_module_files_and_readme_table(module: Path) -> None:
    for name in ("main.tf", "variables.tf", "outputs.tf", "versions.tf", "README.md"):
        assert (module / name).is_file(), f"{module.name} lacks {name}"
    readme = (module / "README.md").read_text()
    rows = set(re.findall(r"^\|\s*`?([a-z0-9_]+)`?\s*\|", readme, flags=re.M))
    missing_inputs = set(variables(module)) - rows
    missing_outputs = set(outputs(module)) - rows
    assert not missing_inputs, f"{module.name}/README.md has no row for inputs {sorted(missing_inputs)}"
    assert not missing_outputs, f"{module.name}/README.md has no row for outputs {sorted(missing_outputs)}"
    assert "## Inputs" in readme and "## Outputs" in readme


@pytest.mark.parametrize("directory", all_roots(), ids=lambda p: str(p.relative_to(TF_ROOT)) or "root")
def test_every_variable_is_typed_and_described(directory: Path) -> None:
    for name, body in variables(directory).items():
        assert "type" in body, f"{directory.name}: variable {name} has no type"
        assert str(body.get("description", "")).strip(), f"{directory.name}: variable {name} has no description"


@pytest.mark.parametrize("directory", all_roots(), ids=lambda p: str(p.relative_to(TF_ROOT)) or "root")
def test_every_output_is_described(directory: Path) -> None:
    for name, body in outputs(directory).items():
        assert str(body.get("description", "")).strip(), f"{directory.name}: output {name} has no description"


@pytest.mark.parametrize("directory", all_roots(), ids=lambda p: str(p.relative_to(TF_ROOT)) or "root")
def test_taggable_resources_pass_tags(directory: Path) -> None:
    untagged = [
        f"{rtype}.{rname}"
        for rtype, rname, body in resources(directory)
        if rtype not in NOT_TAGGABLE and "tags" not in body
    ]
    assert not untagged, f"resources without tags in {directory.relative_to(TF_ROOT)}: {untagged}"


def _derives_from_name(value: str, directory: Path, depth: int = 0) -> bool:
    if "var.name" in value:
        return True
    if depth > 3:
        return False
    local_values = locals_of(directory)
    return any(
        _derives_from_name(str(local_values[ref]), directory, depth + 1)
        for ref in re.findall(r"local\.([A-Za-z0-9_]+)", value)
        if ref in local_values
    )


@pytest.mark.parametrize("module", module_dirs(), ids=lambda p: p.name)
def test_resource_names_are_prefixed_by_environment(module: Path) -> None:
    checked = 0
    for rtype, rname, body in resources(module):
        for attribute in NAME_ATTRIBUTES:
            value = body.get(attribute)
            if not isinstance(value, str) or attribute == "bucket" and rtype != "aws_s3_bucket":
                continue
            if attribute == "name" and rtype in {"aws_iam_role_policy"}:
                continue  # inline policy names live inside their (prefixed) role
            if attribute == "family" and rtype != "aws_ecs_task_definition":
                continue  # e.g. a DB parameter group family is an engine, not a name
            if value.startswith("${aws_"):
                continue  # a reference to another (checked) resource
            checked += 1
            assert _derives_from_name(value, module), f"{module.name}: {rtype}.{rname}.{attribute} = {value!r}"
    assert checked, f"{module.name}: no named resources found"


ACCOUNT_ID = re.compile(r"(?<![0-9A-Za-z])\d{12}(?![0-9A-Za-z])")
REGION = re.compile(r"\b(?:us|eu|ap|sa|ca|me|af|il|mx)-(?:gov-)?[a-z]+-\d\b")
# us-east-1 is where AWS puts CloudFront-scoped WAF, CloudFront metrics and their alarms: not a choice.
US_EAST_1_ALLOWED = {"modules/cdn/main.tf", "modules/monitoring/main.tf", "providers.tf"}


def _values(node: object, key: str = "") -> list[str]:
    """Every string in parsed HCL except descriptions (prose may name a region)."""
    if isinstance(node, dict):
        return [s for k, v in node.items() if k not in {"description", "alarm_description"} for s in _values(v, k)]
    if isinstance(node, list):
        return [s for v in node for s in _values(v, key)]
    return [node] if isinstance(node, str) else []


@pytest.mark.parametrize("path", tf_files(), ids=lambda p: str(p.relative_to(TF_ROOT)))
def test_no_hard_coded_account_ids_or_regions(path: Path) -> None:
    assert not ACCOUNT_ID.findall(path.read_text()), f"{path}: looks like an account id"
    regions = {r for value in _values(load(path)) for r in REGION.findall(value)}
    relative = str(path.relative_to(TF_ROOT))
    assert regions <= {"us-east-1"}, f"{relative}: hard-coded regions {regions}"
    if regions:
        assert relative in US_EAST_1_ALLOWED, f"{relative}: us-east-1 outside the CloudFront/us-east-1 places"


@pytest.mark.parametrize("directory", all_roots(), ids=lambda p: str(p.relative_to(TF_ROOT)) or "root")
def test_versions_pin_terraform_with_s3_lockfile_support(directory: Path) -> None:
    blocks = load_dir(directory).get("terraform", [])
    assert blocks, f"{directory}: no terraform block"
    required = next(b["required_version"] for b in blocks if "required_version" in b)
    assert required.replace(" ", "") in {">=1.10", ">=1.10.0"}, required
    providers = [p for b in blocks for p in b.get("required_providers", [])]
    assert any(p.get("aws", {}).get("source") == "hashicorp/aws" for p in providers)
