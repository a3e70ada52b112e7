"""deploy/Dockerfile without a Docker engine: every entry point it names exists and starts (`--help`)."""

from __future__ import annotations

import importlib
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
BIN = Path(sys.executable).parent


def instructions(text: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and heredoc bodies attached."""
    result: list[tuple[str, str]] = []
    lines = iter(text.splitlines())
    for line in lines:
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        while line.endswith("\\"):
            line = line[:-1] + " " + next(lines).strip()
        instruction, _, rest = line.strip().partition(" ")
        if heredoc := re.search(r"<<-?'?(\w+)'?", rest):
            body = []
            for body_line in lines:
                if body_line.strip() == heredoc.group(1):
                    break
                body.append(body_line)
            rest += "\n" + "\n".join(body)
        result.append((instruction.upper(), rest))
    return result


PARSED = instructions(DOCKERFILE.read_text())


def stage(name: str) -> list[tuple[str, str]]:
    """The instructions of one build stage (FROM ... AS name up to the next FROM)."""
    starts = [i for i, (ins, _) in enumerate(PARSED) if ins == "FROM"]
    for start, end in zip(starts, [*starts[1:], len(PARSED)], strict=True):
        if PARSED[start][1].lower().endswith(f" as {name}"):
            return PARSED[start:end]
    raise AssertionError(f"no stage {name!r}")


def label(name: str) -> list[str]:
    for instruction, args in stage("runtime"):
        if instruction == "LABEL" and (match := re.search(rf'{re.escape(name)}="([^"]*)"', args)):
            return match.group(1).split()
    raise AssertionError(f"no label {name}")


def exec_form(instruction: str, stage_name: str = "runtime") -> list[str]:
    args = next(a for i, a in stage(stage_name) if i == instruction)
    return json.loads(args[args.index("["):])


def entrypoint_script(tmp_path: Path) -> Path:
    copy = next(a for i, a in stage("runtime") if i == "COPY" and "streamstack-entrypoint" in a)
    script = tmp_path / "streamstack-entrypoint"
    script.write_text(copy.split("\n", 1)[1] + "\n")
    script.chmod(0o755)
    return script


def test_multi_stage_non_root_read_only_ready_with_a_healthcheck():
    assert sum(1 for i, _ in PARSED if i == "FROM") >= 3  # build, runtime, lambda
    runtime = dict(stage("runtime"))
    user = runtime["USER"].split(":")[0]
    assert user.isdigit() and int(user) != 0
    volumes = json.loads(runtime["VOLUME"])
    assert "/tmp" in volumes
    env = runtime["ENV"]
    assert "TMPDIR=/tmp" in env and "PYTHONDONTWRITEBYTECODE=1" in env
    assert "STREAMSTACK_DATA_DIR=/var/lib/streamstack" in env and "/var/lib/streamstack" in volumes
    assert runtime["HEALTHCHECK"].startswith("--interval")
    assert runtime["STOPSIGNAL"] == "SIGTERM"
    for source in ("pyproject.toml", "README.md", "src"):
        assert (ROOT / source).exists(), f"the build copies {source}"


@pytest.mark.parametrize("entry", label("io.streamstack.entrypoints"))
def test_every_entry_point_starts(entry: str, tmp_path: Path):
    assert exec_form("ENTRYPOINT") == ["/usr/local/bin/streamstack-entrypoint"]
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    run = subprocess.run(["sh", str(entrypoint_script(tmp_path)), entry, "--help"], env=env, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert "Usage" in run.stdout


def test_the_default_command_is_a_named_entry_point():
    assert exec_form("CMD") == ["api"] and "api" in label("io.streamstack.entrypoints")


def test_migrate_is_db_upgrade(tmp_path: Path):
    script = entrypoint_script(tmp_path).read_text()
    assert re.search(r"migrate\)\s*shift;\s*exec streamstack db upgrade", script)


@pytest.mark.parametrize("handler", label("io.streamstack.lambda-handlers"))
def test_lambda_handlers_exist(handler: str):
    module, _, name = handler.rpartition(".")
    assert callable(getattr(importlib.import_module(module), name))


def test_the_lambda_image_command_is_a_handler():
    (handler,) = exec_form("CMD", "lambda")
    assert handler in label("io.streamstack.lambda-handlers")


def test_the_healthcheck_probes_the_api(live_api):  # type: ignore[no-untyped-def]
    command = [sys.executable if part == "python" else part for part in exec_form("HEALTHCHECK")]

    def check(url: str) -> int:
        env = {**os.environ, "STREAMSTACK_HEALTHCHECK_URL": url}
        return subprocess.run(command, env=env, capture_output=True, timeout=30).returncode

    assert check(f"{live_api.url}/healthz") == 0
    assert check("http://127.0.0.1:9/healthz") != 0
    assert check("") == 0  # worker and migrate tasks: nothing to probe


RDS_CA_BUNDLE = "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem"


@pytest.mark.parametrize("stage_name", ["runtime", "lambda"])
def test_the_rds_ca_bundle_is_where_the_database_url_points(stage_name: str):
    """sslmode=verify-full with sslrootcert=<the database module's ca_bundle_path>: the file must be in both images."""
    variables = (ROOT / "infra" / "terraform" / "modules" / "database" / "variables.tf").read_text()
    path = re.search(r'variable "ca_bundle_path" \{[^}]*default\s*=\s*"([^"]+)"', variables)
    assert path, "the database module names no ca_bundle_path"
    adds = [a.split() for i, a in stage(stage_name) if i == "ADD"]
    assert any(a[-2:] == [RDS_CA_BUNDLE, path.group(1)] for a in adds), adds
