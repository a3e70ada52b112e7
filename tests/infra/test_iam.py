"""Least privilege: the IAM policies in Terraform and docs/aws-permissions.md list the same actions,
and no statement grants a wildcard action (or, for the app, a wildcard resource)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.infra.hcl import REPO, TF_ROOT, all_roots, one, resources
from tests.infra.iam_policy import iam_documents, policy_statements

DOC = REPO / "docs" / "aws-permissions.md"
IAM_TF_ROOT = TF_ROOT  # iam.tf lives in the root composition
ACTION = re.compile(r"\b[a-z0-9-]+:[A-Za-z0-9*]+\b")

# The calls the AWS-shape contract names (MediaConvert get_job was dropped: job state arrives by EventBridge).
APP_CALLS = {
    ("S3", "put_object"),
    ("S3", "create_multipart_upload"),
    ("S3", "upload_part"),
    ("S3", "complete_multipart_upload"),
    ("S3", "abort_multipart_upload"),
    ("S3", "get_object"),
    ("S3", "head_object"),
    ("S3", "delete_object"),
    ("S3", "list_objects_v2"),
    ("S3", "generate_presigned_url"),
    ("SQS", "send_message"),
    ("SQS", "receive_message"),
    ("SQS", "delete_message"),
    ("SQS", "delete_message_batch"),
    ("SQS", "change_message_visibility"),
    ("SQS", "get_queue_attributes"),
    ("SQS", "get_queue_url"),
    ("MediaConvert", "create_job"),
    ("Secrets Manager", "get_secret_value"),
    ("DynamoDB", "put_item"),
    ("DynamoDB", "get_item"),
    ("DynamoDB", "update_item"),
    ("DynamoDB", "delete_item"),
}


def _doc_tables() -> dict[str, list[list[str]]]:
    """Rows of each `## ` section's table, as lists of cells."""
    tables: dict[str, list[list[str]]] = {}
    section = ""
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip()
        elif line.startswith("|") and section:
            cells = [c.strip() for c in line.strip().strip("|").split("|")]
            if cells[0] in {"service", "---"} or set(cells[0]) <= {"-"}:
                continue
            tables.setdefault(section, []).append(cells)
    return tables


def _app_rows() -> list[list[str]]:
    return next(rows for title, rows in _doc_tables().items() if title.lower().startswith("app"))


def _doc_actions(rows: list[list[str]]) -> set[str]:
    return {a for row in rows for a in ACTION.findall(row[2])}


def _not_granted(row: list[str]) -> bool:
    """Rows for calls only tests or operators make (e.g. create_queue): no deployed role gets them."""
    return row[3].lower().startswith("not granted")


def _policy_documents() -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for directory in all_roots():
        for rtype, rname, body in resources(directory, "data"):
            if rtype == "aws_iam_policy_document":
                for statement in policy_statements(body):
                    yield directory, rname, statement


def _is_trust(statement: dict[str, Any]) -> bool:
    return all(a.startswith("sts:AssumeRole") for a in statement["actions"])


def _is_key_admin(name: str, statement: dict[str, Any]) -> bool:
    """The AWS default key policy statement: the account root administers its own KMS key."""
    principals = one(statement.get("principals", [{}]))
    return statement.get("sid") == "AccountAdministers" and "key" in name and "root" in str(principals)


def _granted(statement: dict[str, Any]) -> bool:
    return statement.get("effect", "Allow") == "Allow" and not _is_trust(statement)


def test_doc_has_one_row_per_app_call() -> None:
    rows = _app_rows()
    assert all(len(row) == 4 for row in rows), "columns: service | api call (boto3 method) | IAM action | resource"
    listed = {(row[0], row[1].split()[0]) for row in rows}
    assert listed >= APP_CALLS, f"calls missing from {DOC.name}: {sorted(APP_CALLS - listed)}"
    assert any("EMF" in row[1] for row in rows), "the EMF (no API) row is missing"


def test_app_policies_grant_exactly_the_documented_actions() -> None:
    in_terraform = {
        action
        for directory, name, statement in _policy_documents()
        if directory == IAM_TF_ROOT
        and _granted(statement)
        and not _is_key_admin(name, statement)
        and name != "platform_key"
        for action in statement["actions"]
    }
    documented = _doc_actions([row for row in _app_rows() if not _not_granted(row)])
    withheld = _doc_actions([row for row in _app_rows() if _not_granted(row)]) - documented
    assert in_terraform, "no app policy statements found in iam.tf"
    assert not in_terraform & withheld, f"granted although documented as not granted: {in_terraform & withheld}"
    assert in_terraform - documented == set(), f"granted but not documented: {sorted(in_terraform - documented)}"
    assert documented - in_terraform == set(), f"documented but never granted: {sorted(documented - in_terraform)}"


def test_every_granted_action_anywhere_is_documented() -> None:
    documented = {a for rows in _doc_tables().values() for a in _doc_actions(rows)}
    undocumented = sorted(
        f"{directory.relative_to(TF_ROOT)}:{name}:{action}"
        for directory, name, statement in _policy_documents()
        if _granted(statement) and not _is_key_admin(name, statement)
        for action in statement["actions"]
        if action not in documented
    )
    assert not undocumented, f"add to {DOC.name}: {undocumented}"


def test_no_statement_grants_a_wildcard_action() -> None:
    offending = [
        f"{directory.relative_to(TF_ROOT)}:{name}:{statement.get('sid')}:{action}"
        for directory, name, statement in _policy_documents()
        if _granted(statement) and not _is_key_admin(name, statement)
        for action in statement["actions"]
        if "*" in action
    ]
    assert not offending, offending


BUCKET_ACTIONS = {"s3:ListBucket", "s3:ListBucketMultipartUploads"}
OBJECT_PREFIXES = {"${local.sources_objects}", "${local.assets_objects}", "${local.uploads_objects}",
                   "${local.live_objects}", "${local.tracks_objects}"}


def test_roles_merge_only_policy_documents_of_iam_tf() -> None:
    documents = list(iam_documents())
    for rtype, name, body in resources(IAM_TF_ROOT, "data"):
        if rtype == "aws_iam_policy_document" and name in documents:
            for source in body.get("source_policy_documents", []):
                match = re.fullmatch(r"\$\{data\.aws_iam_policy_document\.([a-z_]+)\.json\}", source)
                assert match and match.group(1) in documents, f"{name} merges {source}"


@pytest.mark.parametrize("document", list(iam_documents()))
def test_app_statements_are_scoped_to_prefixes_and_named_resources(document: str) -> None:
    statements = [s for d, n, s in _policy_documents() if d == IAM_TF_ROOT and n == document]
    for statement in statements:
        resources_ = statement["resources"]
        resources_ = resources_ if isinstance(resources_, list) else [resources_]
        for resource_ in resources_:
            assert resource_ != "*", f"{document}:{statement.get('sid')} on *"
            if any(a.startswith("s3:") and a not in BUCKET_ACTIONS for a in statement["actions"]):
                assert resource_ in OBJECT_PREFIXES, (
                    f"{document}:{statement.get('sid')}: S3 object access outside the app's prefixes: {resource_}"
                )
            elif any(a in BUCKET_ACTIONS for a in statement["actions"]):
                assert resource_ == "${local.media_bucket_arn}", f"{document}: {resource_}"
        if statement["actions"] == ["s3:ListBucket"]:
            assert one(statement["condition"])["variable"] == "s3:prefix", f"{document}: unrestricted listing"


PASSED_ROLES = {
    "mediaconvert.amazonaws.com": ["${module.encoding.mediaconvert_role_arn}"],
    "medialive.amazonaws.com": ["${module.live_managed[0].channel_role_arn}"],
}


def test_pass_role_is_limited_to_the_encoders_roles() -> None:
    """The app passes only the MediaConvert and MediaLive roles, each to its service; the deploy roles
    (bootstrap) only their own stack's roles."""
    for directory, name, statement in _policy_documents():
        if "iam:PassRole" in statement["actions"]:
            if directory == TF_ROOT / "bootstrap" and name == "deploy_iam":
                assert statement["resources"] == [
                    "arn:${local.partition}:iam::${local.account_id}:role/${each.value}-${var.project}-*"
                ]
                continue
            condition = one(statement["condition"])
            assert condition["variable"] == "iam:PassedToService", name
            (service,) = condition["values"]
            assert statement["resources"] == PASSED_ROLES[service], name


def test_task_and_execution_roles_are_separate() -> None:
    body = resources(TF_ROOT / "modules" / "api_service")
    definition = next(b for t, n, b in body if t == "aws_ecs_task_definition")
    assert definition["execution_role_arn"] == "${aws_iam_role.execution.arn}"
    assert definition["task_role_arn"] == "${aws_iam_role.task[each.key].arn}"
