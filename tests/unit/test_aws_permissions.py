"""docs/aws-permissions.md lists every boto3 call the code under src/ makes, and nothing it does not make.

A boto3 client is recognised by its name (`client`, `<anything>_client`) or by being built inline
(`client("s3", ...)`). A call's service is the one, among those the code builds clients for, whose
botocore model has the operation; a method no model has belongs to another client (httpx), and an
operation two services share (create_queue) is told apart by the service named in the variable
(`sqs_client`). Paginators and presigned URLs count as the operation they run or sign. Rows for calls
a library makes for us (Powertools idempotency) say so.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import botocore.session

ROOT = Path(__file__).resolve().parents[2]
SRC = ROOT / "src" / "streamstack"
DOC = ROOT / "docs" / "aws-permissions.md"
CLIENT_FACTORIES = {"client", "make_client"}
CLIENT_NAME = re.compile(r"(^|[._])(\w+_)?client$")
LABELS = {"s3": "S3", "sqs": "SQS", "mediaconvert": "MediaConvert", "secretsmanager": "Secrets Manager",
          "dynamodb": "DynamoDB", "application-autoscaling": "Application Auto Scaling", "medialive": "MediaLive",
          "mediapackagev2": "MediaPackage v2"}
LIBRARY_MARK = "(Powertools"
ACTION = re.compile(r"^[a-z0-9-]+:[A-Za-z0-9]+$")


def modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path))) for path in sorted(SRC.rglob("*.py"))]


def services_with_clients() -> set[str]:
    """Services the code builds clients for: the string first argument of client()/make_client()."""
    found = set()
    for _path, tree in modules():
        for node in ast.walk(tree):
            if isinstance(node, ast.Call) and _name(node.func) in CLIENT_FACTORIES and node.args:
                first = node.args[0]
                if isinstance(first, ast.Constant) and isinstance(first.value, str):
                    found.add(first.value)
    return found


def _name(func: ast.expr) -> str:
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""


def _is_client(receiver: ast.expr) -> bool:
    if isinstance(receiver, ast.Call):
        return _name(receiver.func) in CLIENT_FACTORIES
    return bool(CLIENT_NAME.search(ast.unparse(receiver)))


@cache
def operations(service: str) -> frozenset[str]:
    from botocore import xform_name

    model = botocore.session.get_session().get_service_model(service)
    return frozenset(xform_name(name) for name in model.operation_names)


def code_calls() -> dict[tuple[str, str], list[str]]:
    """(doc service label, api call) -> where the code makes it."""
    services = services_with_clients()
    calls: dict[tuple[str, str], list[str]] = {}
    for path, tree in modules():
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                    and _is_client(node.func.value)):
                continue
            method, argument = node.func.attr, _first_string(node)
            if method == "get_paginator":
                method = argument
            elif method == "generate_presigned_url":
                method = f"generate_presigned_url ({argument})"
            operation = argument if method.startswith("generate_presigned_url") else method
            owners = sorted(s for s in services if operation in operations(s))
            if not owners:
                continue  # another kind of client (httpx): not an AWS operation
            receiver = ast.unparse(node.func.value)
            owners = [s for s in owners if s in receiver] if len(owners) > 1 else owners
            assert len(owners) == 1, f"{path.name}:{node.lineno}: {method} matches services {owners}"
            where = f"{path.relative_to(ROOT)}:{node.lineno}"
            calls.setdefault((LABELS[owners[0]], method), []).append(where)
    return calls


def _first_string(node: ast.Call) -> str:
    first = node.args[0] if node.args else None
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def app_rows() -> list[list[str]]:
    """The rows of the doc's '## App calls' table."""
    rows, section = [], ""
    for line in DOC.read_text().splitlines():
        if line.startswith("## "):
            section = line[3:].strip().lower()
        elif section.startswith("app") and line.startswith("|"):
            cells = [cell.strip() for cell in line.strip().strip("|").split("|")]
            if cells[0] != "service" and not set(cells[0]) <= {"-"}:
                rows.append(cells)
    return rows


def doc_call(cell: str) -> str:
    """`put_item (Powertools idempotency)` -> `put_item`; presigned URLs keep the operation they sign."""
    return cell if cell.startswith("generate_presigned_url") else cell.split(" (")[0].strip()


def test_the_scan_finds_the_calls_it_should():
    calls = code_calls()
    for expected in [("S3", "put_object"), ("S3", "list_objects_v2"), ("SQS", "receive_message"),
                     ("MediaConvert", "create_job"), ("Secrets Manager", "get_secret_value"),
                     ("S3", "generate_presigned_url (upload_part)")]:
        assert expected in calls, expected


def test_every_boto3_call_in_the_code_is_documented():
    documented = {(row[0], doc_call(row[1])) for row in app_rows()}
    missing = {call: where for call, where in code_calls().items() if call not in documented}
    assert not missing, f"add rows to {DOC.name}: {missing}"


def test_every_documented_call_is_made_by_the_code_or_a_named_library():
    made = set(code_calls())
    stale = [row[:2] for row in app_rows()
             if (row[0], doc_call(row[1])) not in made and LIBRARY_MARK not in row[1] and "no API call" not in row[1]]
    assert not stale, f"{DOC.name} lists calls nothing makes: {stale}"


def test_library_rows_name_a_library_the_code_uses():
    source = "\n".join(path.read_text() for path in SRC.rglob("*.py"))
    for row in app_rows():
        if LIBRARY_MARK in row[1]:
            assert row[0] == "DynamoDB" and "DynamoDBPersistenceLayer" in source, row


def test_rows_name_exact_iam_actions_and_a_resource():
    for row in app_rows():
        assert len(row) == 4, f"columns: service | api call | IAM action | resource: {row}"
        service, call, actions, resource = row
        if "no API call" in call:
            continue
        names = [a.strip() for a in actions.split(",")]
        assert names and all(ACTION.match(a) for a in names), f"{call}: {actions!r} (exact actions, no *)"
        assert resource and resource.lower() != "*", f"{call}: a resource is needed"
