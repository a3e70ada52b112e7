"""Issue 11, defects 1 and 11 on the parsed HCL: the image repositories, the CI roles of bootstrap, and the
runtime roles that were broader than what they do."""

from __future__ import annotations

import re

from tests.infra.hcl import MODULES_DIR, REPO, TF_ROOT, locals_of, one, resource, tf_files, variables

BOOTSTRAP = TF_ROOT / "bootstrap"
API = MODULES_DIR / "api_service"


def _statements(directory, name):  # type: ignore[no-untyped-def]
    body = resource(directory, "aws_iam_policy_document", name, kind="data")
    found = list(body.get("statement", []))
    for dynamic in body.get("dynamic", []):
        if "statement" in dynamic:
            found.append(one(dynamic["statement"]["content"]))
    return found


def test_image_repositories_are_immutable_scanned_and_encrypted() -> None:
    """Defect 1: no ECR repository existed for the images the deploys named."""
    repository = resource(BOOTSTRAP, "aws_ecr_repository", "image")
    assert repository["for_each"] == "${local.images}"
    assert set(locals_of(BOOTSTRAP)["images"]) == {"service", "lambda"}
    assert repository["image_tag_mutability"] == "IMMUTABLE"
    assert one(repository["image_scanning_configuration"])["scan_on_push"] is True
    assert one(repository["encryption_configuration"])["encryption_type"] == "KMS"
    assert resource(BOOTSTRAP, "aws_ecr_lifecycle_policy", "image")["for_each"] == "${local.images}"
    pull = one(_statements(BOOTSTRAP, "lambda_pulls"))
    assert one(pull["principals"])["identifiers"] == ["lambda.amazonaws.com"]
    assert one(pull["condition"])["variable"] == "aws:sourceArn"


def test_the_checkov_suppression_on_lambda_code_signing_says_what_is_true() -> None:
    text = (MODULES_DIR / "event_processor" / "main.tf").read_text()
    reason = re.search(r"checkov:skip=CKV_AWS_272:(.*)", text)
    assert reason, "CKV_AWS_272 suppression moved"
    assert "image job" in reason.group(1) and "ECR" in reason.group(1)
    workflow = (REPO / ".github" / "workflows" / "terraform.yml").read_text()
    assert "\n  image:\n" in workflow and "docker push" in workflow


def test_ci_roles_trust_only_their_own_subjects() -> None:
    """Defect 11: the deploy roles' trust allowed any branch; plans and pushes are scoped too."""
    subjects = locals_of(BOOTSTRAP)["ci_subjects"]
    text = str(subjects)
    assert "environment:${env}" in text and "pull_request" in text and "local.main_branch" in text
    assert locals_of(BOOTSTRAP)["main_branch"] == "repo:${var.github_repository}:ref:refs/heads/main"
    assert "*" not in text, "no wildcard subject"
    trust = one(_statements(BOOTSTRAP, "ci_assume"))
    sub = next(c for c in trust["condition"] if c["variable"].endswith(":sub"))
    assert sub["test"] == "StringEquals" and sub["values"] == "${each.value}"
    image = resource(BOOTSTRAP, "aws_iam_role", "image")
    assert image["assume_role_policy"] == '${data.aws_iam_policy_document.ci_assume["image"].json}'


def test_the_plan_role_cannot_write_state() -> None:
    """Plans run with -lock=false: the plan role reads state and writes nothing."""
    policy = resource(BOOTSTRAP, "aws_iam_role_policy", "plan_state")
    assert policy["policy"] == "${data.aws_iam_policy_document.state_read.json}"
    actions = {a for s in _statements(BOOTSTRAP, "state_read") for a in s["actions"]}
    assert actions == {"s3:ListBucket", "s3:GetObject", "kms:Decrypt"}


def test_deploy_roles_are_not_administrators_and_manage_only_their_stacks_roles() -> None:
    default = variables(BOOTSTRAP)["deploy_policy_arns"]["default"]
    assert default == ["arn:aws:iam::aws:policy/PowerUserAccess"]
    for path in [*tf_files(), REPO / "docs" / "deploy.md", REPO / "README.md"]:
        assert "AdministratorAccess" not in path.read_text(), f"{path} still suggests AdministratorAccess"
    statements = {s["sid"]: s for s in _statements(BOOTSTRAP, "deploy_iam")}
    assert statements["ManageOwnRoles"]["resources"] == [
        "arn:${local.partition}:iam::${local.account_id}:role/${each.value}-${var.project}-*"
    ]
    assert one(statements["AttachStackManagedPolicies"]["condition"])["variable"] == "iam:PolicyARN"
    assert one(statements["ServiceLinkedRoles"]["condition"])["variable"] == "iam:AWSServiceName"
    push = {a for s in _statements(BOOTSTRAP, "image_push") for a in s["actions"]}
    assert not {a for a in push if a.startswith("ecr:Delete") or a.startswith("ecr:Set")}


def test_the_execution_role_pulls_only_the_images_repository() -> None:
    """Defect 11: ECR pull was allowed on repository/*."""
    for path in tf_files():
        assert "repository/*" not in path.read_text(), path
    pull = next(s for s in _statements(API, "execution") if s["sid"] == "EcrPull")
    assert pull["resources"] == ["${statement.value}"]
    assert "var.container_image" in locals_of(API)["image_repository"]


def test_workers_never_consume_the_events_queue() -> None:
    """Defect 11: the workers could receive and delete job events that on_encoding_event must process."""
    worker = _statements(TF_ROOT, "worker")
    consume = [s for s in worker if "sqs:ReceiveMessage" in s["actions"]]
    assert [s["resources"] for s in consume] == [['${local.queue_arns["encode"]}']]
    assert locals_of(TF_ROOT)["app_environment_all"]["STREAMSTACK_WORKER_QUEUES"] == '${jsonencode(["encode"])}'
