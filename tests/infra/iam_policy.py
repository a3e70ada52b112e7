"""The app roles' policies as iam.tf writes them, rendered for one bucket, and IAM's evaluation of one S3 call.

moto does not evaluate the resource and condition parts of identity policies (its access control has no
`s3:prefix`), so a test that runs the real code on moto records the S3 calls it makes and asks `allows`.
Only what the app's statements use is evaluated: Allow statements (iam.tf has no Deny), action and resource
globs, and the StringLike, StringEquals and Null conditions; anything else fails the test instead of passing.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from botocore.client import BaseClient

from tests.infra.hcl import TF_ROOT, load, locals_of, one

IAM_TF = TF_ROOT / "iam.tf"
BUCKET_ARN_REF = "${module.cdn.media_bucket_arn}"
_LOCAL = re.compile(r"\$\{local\.([A-Za-z0-9_]+)\}")
_SOURCE = re.compile(r"^\$\{data\.aws_iam_policy_document\.([a-z_]+)\.json\}$")

# botocore operation -> (IAM action, the call is on the bucket rather than an object)
S3_ACTIONS = {
    "PutObject": ("s3:PutObject", False),
    "CreateMultipartUpload": ("s3:PutObject", False),
    "UploadPart": ("s3:PutObject", False),
    "CompleteMultipartUpload": ("s3:PutObject", False),
    "AbortMultipartUpload": ("s3:AbortMultipartUpload", False),
    "ListParts": ("s3:ListMultipartUploadParts", False),
    "GetObject": ("s3:GetObject", False),
    "HeadObject": ("s3:GetObject", False),
    "DeleteObject": ("s3:DeleteObject", False),
    "ListObjectsV2": ("s3:ListBucket", True),
    "HeadBucket": ("s3:ListBucket", True),
    "ListMultipartUploads": ("s3:ListBucketMultipartUploads", True),
}


def policy_statements(body: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """A policy document's statements, the dynamic ones (feature flags) included."""
    yield from body.get("statement", [])
    for dynamic in body.get("dynamic", []):
        if "statement" in dynamic:
            yield one(dynamic["statement"]["content"])


def iam_documents() -> dict[str, dict[str, Any]]:
    """The policy documents of iam.tf by name: the roles' own, and the shared ones they merge in."""
    return {name: body for block in load(IAM_TF)["data"]
            for name, body in block.get("aws_iam_policy_document", {}).items()}  # fmt: skip


def _render(value: Any, bucket_arn: str) -> Any:
    """`${local.x}` (repeatedly) and the bucket's ARN filled in; anything else is left as Terraform wrote it."""
    if isinstance(value, dict):
        return {k: _render(v, bucket_arn) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, bucket_arn) for v in value]
    if not isinstance(value, str):
        return value
    names = locals_of(TF_ROOT)
    for _ in range(10):
        value = _LOCAL.sub(lambda m: str(names[m.group(1)]), value)
    return value.replace(BUCKET_ARN_REF, bucket_arn)


def role_statements(document: str, bucket: str) -> list[dict[str, Any]]:
    """A role's policy document of iam.tf with the documents it merges, rendered for `bucket`."""
    documents = iam_documents()
    body = documents[document]
    merged = []
    for source in body.get("source_policy_documents", []):
        match = _SOURCE.match(source)
        assert match, f"{document} merges {source}"
        merged += role_statements(match.group(1), bucket)
    return merged + [_render(s, f"arn:aws:s3:::{bucket}") for s in policy_statements(body)]


@dataclass(frozen=True)
class S3Call:
    """One S3 request a service made: its botocore operation, and key or listed prefix."""

    role: str
    operation: str
    key: str | None = None
    prefix: str | None = None

    def request(self, bucket: str) -> tuple[str, str, dict[str, str]]:
        """(IAM action, resource ARN, condition context) as IAM authorises the call."""
        action, on_bucket = S3_ACTIONS[self.operation]
        context = {"s3:prefix": self.prefix} if self.prefix is not None else {}
        return action, f"arn:aws:s3:::{bucket}" if on_bucket else f"arn:aws:s3:::{bucket}/{self.key}", context


def _condition_holds(condition: dict[str, Any], context: dict[str, str]) -> bool:
    test, variable, values = condition["test"], condition["variable"], condition["values"]
    value = context.get(variable)
    if test == "Null":
        return (value is None) == (values == ["true"])
    if test == "StringLike":
        return value is not None and any(fnmatchcase(value, v) for v in values)
    if test == "StringEquals":
        return value in values
    raise AssertionError(f"condition {test} on {variable} is not evaluated here")


def allows(statements: list[dict[str, Any]], action: str, resource: str, context: dict[str, str]) -> bool:
    """Does some Allow statement grant the action on the resource with these condition keys?"""
    for statement in statements:
        assert statement.get("effect", "Allow") == "Allow", "a Deny statement needs evaluation order"
        resources = statement["resources"] if isinstance(statement["resources"], list) else [statement["resources"]]
        if (any(fnmatchcase(action, a) for a in statement["actions"])
                and any(fnmatchcase(resource, r) for r in resources)
                and all(_condition_holds(c, context) for c in statement.get("condition", []))):  # fmt: skip
            return True
    return False


@dataclass
class S3Recorder:
    """Records every S3 request boto3 clients in this process make (the Lambda handlers' own included), under
    the role acting at the time (named as its policy document in iam.tf; None: the test's own, not recorded)."""

    role: str | None
    calls: list[S3Call] = field(default_factory=list)

    def attach(self, monkeypatch: Any) -> None:
        real = BaseClient._make_api_call

        def recorded(client: Any, operation: str, params: dict[str, Any]) -> Any:
            if client.meta.service_model.service_name == "s3" and self.role is not None:
                self.calls.append(S3Call(self.role, operation, params.get("Key"), params.get("Prefix")))
            return real(client, operation, params)

        monkeypatch.setattr(BaseClient, "_make_api_call", recorded)

    def denied(self, bucket: str) -> list[S3Call]:
        """The calls its role's policy would not allow on AWS."""
        policies = {role: role_statements(role, bucket) for role in {c.role for c in self.calls}}
        return [c for c in self.calls if not allows(policies[c.role], *c.request(bucket))]
