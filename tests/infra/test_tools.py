"""The tools run offline: terraform fmt, checkov, check-jsonschema; and the workflows do what issue 6 asks."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.infra.hcl import REPO, TF_ROOT, tf_files
from tests.infra.terraform import missing, terraform_binary

WORKFLOWS = sorted((REPO / ".github" / "workflows").glob("*.yml"))
SKIP_COMMENT = re.compile(r"#\s*checkov:skip=([A-Z0-9_,]+)(?::(.*))?$")


def _checkov() -> Path:
    return REPO / os.environ.get("STREAMSTACK_CHECKOV", ".venv-checkov/bin/checkov")


def test_every_tf_file_is_in_terraform_fmt_canonical_layout() -> None:
    terraform = terraform_binary()
    result = subprocess.run(
        [terraform, "fmt", "-check", "-recursive", "-list=true", str(TF_ROOT)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, f"not in canonical layout (run `terraform fmt -recursive`):\n{result.stdout}"
    assert len(tf_files()) > 40


def test_checkov_suppressions_carry_a_justification() -> None:
    found = 0
    for path in tf_files():
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if match := SKIP_COMMENT.search(line):
                found += 1
                justification = (match.group(2) or "").strip()
                assert len(justification) >= 30, f"{path}:{number}: suppression without a real justification"
    assert found, "no inline suppressions found at all (is the pattern right?)"


def test_checkov_reports_zero_failed_checks() -> None:
    checkov = _checkov()
    if not checkov.exists():
        missing(
            f"checkov not installed at {checkov} (python3 -m venv .venv-checkov && "
            ".venv-checkov/bin/pip install checkov==3.3.30, or set STREAMSTACK_CHECKOV)"
        )
    result = subprocess.run(
        [str(checkov), "-d", str(TF_ROOT), "--framework", "terraform", "--skip-download", "--output", "json"],
        capture_output=True,
        text=True,
        timeout=280,
        cwd=REPO,
    )
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    failed = [c for r in reports for c in r["results"]["failed_checks"]]
    skipped = [c for r in reports for c in r["results"]["skipped_checks"]]
    summary = [f"{c['check_id']} {c['resource']} {c['file_path']}" for c in failed]
    assert not failed, "checkov failed checks:\n" + "\n".join(summary)
    assert result.returncode == 0, result.stderr[-2000:]
    assert skipped, "no suppressed checks reported: were the inline suppressions read?"
    for check in skipped:
        comment = check.get("check_result", {}).get("suppress_comment", "")
        assert len(comment.strip()) >= 30, f"{check['check_id']} {check['resource']}: {comment!r}"
    assert sum(r["summary"]["parsing_errors"] for r in reports) == 0
    passed = sum(r["summary"]["passed"] for r in reports)
    assert passed > 300, f"checkov passed only {passed} checks: did it parse the tree?"
    # A check checkov cannot evaluate (e.g. on a dynamic block it renders wrongly) is neither passed nor
    # failed; the Log4j check must really pass on every web ACL.
    passed_checks = [c for r in reports for c in r["results"]["passed_checks"]]
    log4j = {c["resource"] for c in passed_checks if c["check_id"] == "CKV_AWS_192"}
    acls = {c["resource"] for c in passed_checks if ".aws_wafv2_web_acl." in c["resource"]}
    assert acls and acls <= log4j, f"CKV_AWS_192 not passed on {sorted(acls - log4j)}"


@pytest.mark.parametrize("workflow", WORKFLOWS, ids=lambda p: p.name)
def test_workflow_matches_the_github_schema(workflow: Path) -> None:
    binary = Path(sys.executable).with_name("check-jsonschema")
    command = [str(binary)] if binary.exists() else [sys.executable, "-m", "check_jsonschema"]
    result = subprocess.run(
        [*command, "--builtin-schema", "vendor.github-workflows", str(workflow)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def _load(path: Path) -> dict:
    data = yaml.safe_load(path.read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def test_ci_lints_type_checks_and_runs_make_test_with_postgres() -> None:
    ci = _load(REPO / ".github" / "workflows" / "ci.yml")
    jobs = ci["jobs"]
    runs = {name: " ".join(step.get("run", "") for step in job["steps"]) for name, job in jobs.items()}
    assert "make lint" in runs["lint"]
    assert "mypy" in runs["type-check"]
    assert "make test" in runs["test"]
    postgres = jobs["test"]["services"]["postgres"]
    assert postgres["image"].startswith("postgres:")
    assert "STREAMSTACK_TEST_POSTGRES_URL" in jobs["test"]["env"]
    assert "checkov==" in runs["test"], "the checkov test needs its venv in CI"
