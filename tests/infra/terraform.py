"""Run the real terraform binary offline: a CLI config of the tests' own points provider installation at a
filesystem mirror of hashicorp/aws, so init, validate and `terraform test` (mock providers) need no network."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.infra.hcl import ENVIRONMENTS, TF_ROOT

PROVIDER_VERSION = "5.100.0"
DEFAULT_MIRROR = Path("/opt/tf-plugins")
PLAN_TEST_FILE = "tests/first_plan.tftest.hcl"
PLAN_RUNS = ("ffmpeg", "mediaconvert", "live_event", "live_ingest", "live_managed")


def missing(reason: str) -> None:
    """A real part this machine kind ships is missing: skip locally, fail under CI=true."""
    if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
        pytest.fail(f"{reason} (CI=true: this machine kind ships it)")
    pytest.skip(reason)


def terraform_binary() -> str:
    binary = os.environ.get("STREAMSTACK_TERRAFORM") or shutil.which("terraform")
    if binary is None:
        missing("terraform binary not found (set STREAMSTACK_TERRAFORM or put terraform on PATH)")
    return str(binary)


def provider_mirror() -> Path:
    """The filesystem mirror holding hashicorp/aws (unpacked or packed layout)."""
    mirror = Path(os.environ.get("STREAMSTACK_TF_PLUGIN_MIRROR", DEFAULT_MIRROR))
    if not list((mirror / "registry.terraform.io" / "hashicorp" / "aws").glob(f"*{PROVIDER_VERSION}*")):
        missing(
            f"no hashicorp/aws {PROVIDER_VERSION} in the provider mirror {mirror} "
            "(set STREAMSTACK_TF_PLUGIN_MIRROR; `terraform providers mirror <dir>` makes one)"
        )
    return mirror


def cli_config(mirror: Path) -> str:
    return (
        "provider_installation {\n"
        "  filesystem_mirror {\n"
        f'    path    = "{mirror}"\n'
        '    include = ["registry.terraform.io/hashicorp/aws"]\n'
        "  }\n"
        "  direct {\n"
        '    exclude = ["registry.terraform.io/hashicorp/aws"]\n'
        "  }\n"
        "}\n"
    )


@dataclass
class Workspace:
    """A temporary copy of infra/terraform, initialised once (root and bootstrap) for every test."""

    binary: str
    root: Path
    env: dict[str, str]

    def run(self, *args: str, chdir: Path | None = None, timeout: int = 600) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.binary, f"-chdir={chdir or self.root}", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def popen(self, *args: str, output: Path) -> subprocess.Popen[bytes]:
        """Start terraform with stdout and stderr in files (plans are megabytes: no pipe to fill)."""
        with output.with_suffix(".out").open("wb") as out, output.with_suffix(".err").open("wb") as err:
            return subprocess.Popen([self.binary, f"-chdir={self.root}", *args], env=self.env, stdout=out, stderr=err)


def make_workspace(directory: Path) -> Workspace:
    binary = terraform_binary()
    mirror = provider_mirror()
    root = directory / "terraform"
    shutil.copytree(TF_ROOT, root, ignore=shutil.ignore_patterns(".terraform", "account.tfvars", "*.tfstate*"))
    config = directory / "terraformrc"
    config.write_text(cli_config(mirror))
    env = {k: v for k, v in os.environ.items() if not k.startswith("TF_")}
    env.update(TF_CLI_CONFIG_FILE=str(config), TF_IN_AUTOMATION="1", CHECKPOINT_DISABLE="1")
    workspace = Workspace(binary, root, env)
    for chdir in (root, root / "bootstrap"):
        # readonly: the committed lock file must already name the provider and its hash.
        result = workspace.run("init", "-backend=false", "-input=false", "-no-color", "-lockfile=readonly", chdir=chdir)
        assert result.returncode == 0, f"terraform init in {chdir.name}:\n{result.stdout}\n{result.stderr}"
    return workspace


@dataclass
class PlanRun:
    """One `run` block of the plan test: its status and, for a plan that was made, the plan JSON."""

    status: str = "unknown"
    resource_changes: list[dict[str, Any]] = field(default_factory=list)
    output_changes: dict[str, Any] = field(default_factory=dict)

    def changes(self, address_prefix: str) -> list[dict[str, Any]]:
        """The planned changes of every resource whose address starts with address_prefix."""
        return [c for c in self.resource_changes if c["address"].startswith(address_prefix)]

    def change(self, address: str) -> dict[str, Any]:
        found = [c for c in self.resource_changes if c["address"] == address]
        assert found, f"{address} is not in the plan"
        return found[0]["change"]

    def after(self, address: str) -> dict[str, Any]:
        return self.change(address)["after"]


@dataclass
class PlanTest:
    """The outcome of `terraform test` of one environment."""

    environment: str
    returncode: int
    runs: dict[str, PlanRun]
    errors: list[str]
    stderr: str

    def report(self) -> str:
        statuses = ", ".join(f"{name}: {run.status}" for name, run in self.runs.items())
        return f"{self.environment}: {statuses}\n" + "\n".join(self.errors) + self.stderr[-3000:]


def start_plan_test(workspace: Workspace, environment: str) -> subprocess.Popen[bytes]:
    return workspace.popen(
        "test",
        "-no-color",
        "-json",
        "-verbose",  # emits each run's plan as JSON (test_plan messages)
        f"-filter={PLAN_TEST_FILE}",
        f"-var-file=environments/{environment}/terraform.tfvars",
        output=workspace.root.parent / f"plan-test-{environment}",
    )


def _messages(stdout: str) -> Iterator[dict[str, Any]]:
    for line in stdout.splitlines():
        if line.startswith("{"):
            yield json.loads(line)


def finish_plan_test(
    workspace: Workspace, environment: str, process: subprocess.Popen[bytes], timeout: int
) -> PlanTest:
    try:
        process.wait(timeout=timeout)
    finally:
        if process.returncode is None:
            process.kill()
            process.wait()
    output = workspace.root.parent / f"plan-test-{environment}"
    stdout = output.with_suffix(".out").read_text()
    stderr = output.with_suffix(".err").read_text()
    runs: dict[str, PlanRun] = {}
    errors: list[str] = []
    for message in _messages(stdout):
        name = message.get("@testrun")
        kind = message["type"]
        if kind == "test_run" and name:
            if "status" in message["test_run"]:
                runs.setdefault(name, PlanRun()).status = message["test_run"]["status"]
        elif kind == "test_plan" and name:
            plan = message["test_plan"]
            run = runs.setdefault(name, PlanRun())
            run.resource_changes = plan.get("resource_changes", [])
            run.output_changes = plan.get("output_changes", {})
        elif kind == "diagnostic" and message["@level"] == "error":
            diagnostic = message["diagnostic"]
            errors.append(f"[{name}] {diagnostic['summary']}: {diagnostic.get('detail', '')}")
    return PlanTest(environment, process.returncode, runs, errors, stderr)


def run_plan_tests(workspace: Workspace, timeout: int = 1500) -> dict[str, PlanTest]:
    """Every environment's plan test, run concurrently (each is mostly provider start-up and waiting)."""
    processes = {env: start_plan_test(workspace, env) for env in ENVIRONMENTS}
    try:
        return {env: finish_plan_test(workspace, env, process, timeout) for env, process in processes.items()}
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
