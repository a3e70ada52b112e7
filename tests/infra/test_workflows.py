"""The delivery pipeline (issue 11, defects 1, 2 and 10): every change to main builds and pushes the images
and deploys that tag to dev; promotions apply a saved plan that reviewers saw; migrations run as a one-off
task without touching Terraform's state; success means the services run the new task definitions."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

from tests.infra.hcl import REPO, TF_ROOT

WORKFLOWS_DIR = REPO / ".github" / "workflows"
SCRIPTS = TF_ROOT / "scripts"
PINNED = re.compile(r"^[\w.-]+/[\w./-]+@[0-9a-f]{40} # v\d+\.\d+\.\d+$")


def _load(name: str) -> dict[str, Any]:
    data = yaml.safe_load((WORKFLOWS_DIR / name).read_text())
    data["on"] = data.pop(True, data.get("on"))  # YAML 1.1 reads the key `on` as True
    return data


def _runs(job: dict[str, Any]) -> list[str]:
    return [step.get("run", "") for step in job["steps"]]


def _step_index(job: dict[str, Any], needle: str) -> int:
    for index, step in enumerate(job["steps"]):
        if needle in step.get("run", "") or needle in step.get("uses", ""):
            return index
    raise AssertionError(f"no step runs or uses {needle!r}")


def test_every_action_is_pinned_to_a_commit_sha_with_its_version() -> None:
    uses = [
        (path.name, line.split("uses:", 1)[1].strip())
        for path in sorted(WORKFLOWS_DIR.glob("*.yml"))
        for line in path.read_text().splitlines()
        if re.match(r"^\s*(- )?uses:", line)
    ]
    assert len(uses) > 15
    for name, target in uses:
        if target.startswith("./.github/workflows/"):
            assert (REPO / target).is_file(), f"{name}: {target} does not exist"
            continue
        assert PINNED.match(target), f"{name}: `uses: {target}` is not owner/repo@<40-hex sha> # vX.Y.Z"


def test_tflint_itself_is_pinned() -> None:
    workflow = _load("terraform.yml")
    step = next(s for s in workflow["jobs"]["static"]["steps"] if "setup-tflint" in s.get("uses", ""))
    assert step["with"]["tflint_version"] == "${{ env.TFLINT_VERSION }}"
    assert re.fullmatch(r"v\d+\.\d+\.\d+", workflow["env"]["TFLINT_VERSION"])


def test_static_checks_validate_with_the_committed_lock_and_plan_every_environment() -> None:
    static = " ".join(_runs(_load("terraform.yml")["jobs"]["static"]))
    for command in ("terraform fmt -check", "-lockfile=readonly", "validate", "terraform test", "tflint", "checkov"):
        assert command in static, command
    assert "environments/$env/terraform.tfvars" in static


def test_pull_requests_get_a_read_only_plan_comment_per_environment() -> None:
    plan = _load("terraform.yml")["jobs"]["plan"]
    assert "pull_request" in plan["if"] and plan["permissions"]["pull-requests"] == "write"
    assert plan["strategy"]["matrix"]["environment"] == ["dev", "staging", "prod"]
    assert any("github-script" in step.get("uses", "") for step in plan["steps"]), "plan is not commented on the PR"
    assert "vars.AWS_PLAN_ROLE_ARN" in str(plan["steps"]) and "-lock=false" in " ".join(_runs(plan))


def test_every_change_to_main_builds_both_images_and_deploys_that_tag_to_dev() -> None:
    """Defect 1: nothing built or pushed the images, and app changes never reached dev."""
    workflow = _load("terraform.yml")
    assert workflow["on"]["push"] == {"branches": ["main"]}, "a paths filter would keep app changes from dev"
    image = workflow["jobs"]["image"]
    assert "refs/heads/main" in image["if"] and image["permissions"]["id-token"] == "write"
    assert "vars.AWS_IMAGE_ROLE_ARN" in str(image["steps"])
    build = " ".join(_runs(image))
    assert "docker build -f deploy/Dockerfile" in build and "docker push" in build
    assert 'runtime:"$SERVICE_REPOSITORY"' in build and 'lambda:"$LAMBDA_REPOSITORY"' in build
    assert "$GITHUB_SHA" in build
    dockerfile = (REPO / "deploy" / "Dockerfile").read_text()
    assert re.search(r"^FROM .* AS runtime$", dockerfile, re.M) and re.search(r"^FROM .* AS lambda$", dockerfile, re.M)
    dev = workflow["jobs"]["deploy-dev"]
    assert set(dev["needs"]) == {"static", "image"} and "refs/heads/main" in dev["if"]
    assert dev["uses"] == "./.github/workflows/deploy.yml"
    assert dev["with"] == {"environment": "dev", "image_tag": "${{ github.sha }}"}
    release = workflow["jobs"]["release"]
    assert "workflow_dispatch" in release["if"] and release["uses"] == "./.github/workflows/deploy.yml"
    assert release["with"] == {"environment": "${{ inputs.environment }}", "image_tag": "${{ inputs.image_tag }}"}
    assert set(workflow["on"]["workflow_dispatch"]["inputs"]["environment"]["options"]) == {"staging", "prod"}


def test_the_deployed_images_are_the_pushed_ones() -> None:
    deploy = _load("deploy.yml")
    assert deploy["env"]["TF_VAR_container_image"] == (
        "${{ vars.ECR_SERVICE_REPOSITORY_URL }}:${{ inputs.image_tag }}"
    )
    assert "vars.ECR_LAMBDA_REPOSITORY_URL }}:${{ inputs.image_tag }}" in deploy["env"]["TF_VAR_lambda_package"]


def test_the_reviewed_saved_plan_is_exactly_what_is_applied() -> None:
    """Defect 10: approvals came before any plan existed."""
    jobs = _load("deploy.yml")["jobs"]
    plan, apply = jobs["plan"], jobs["apply"]
    assert "environment" not in plan, "the plan job runs before the approval, with the read-only plan role"
    assert "vars.AWS_PLAN_ROLE_ARN" in str(plan["steps"])
    made = " ".join(_runs(plan))
    assert "plan -input=false -lock=false -out=tfplan" in made and "GITHUB_STEP_SUMMARY" in made
    upload = next(s for s in plan["steps"] if "upload-artifact" in s.get("uses", ""))
    assert "infra/terraform/tfplan" in upload["with"]["path"]
    assert apply["needs"] == "plan" and apply["environment"] == "${{ inputs.environment }}"
    assert "vars.AWS_DEPLOY_ROLE_ARN" in str(apply["steps"])
    applies = [run for run in _runs(apply) if " apply " in run]
    assert applies == ["terraform -chdir=infra/terraform apply -input=false tfplan"], applies
    assert _step_index(apply, "download-artifact") < _step_index(apply, "apply -input=false tfplan")


def test_migrations_run_before_the_rollout_and_after_a_first_apply() -> None:
    """Defect 2: the migration's targeted apply could not run a task on an empty account."""
    apply = _load("deploy.yml")["jobs"]["apply"]
    migrate = _step_index(apply, "scripts/migrate.sh")
    applied = _step_index(apply, "apply -input=false tfplan")
    assert migrate < applied
    after = apply["steps"][applied + 1]
    assert "scripts/migrate.sh" in after["run"] and after["if"] == "steps.migrate.outputs.first_deploy == 'true'"
    script = (SCRIPTS / "migrate.sh").read_text()
    assert "terraform -chdir" in script and not re.search(r"terraform\S* .*\b(apply|-target)\b", script)
    assert "aws ecs register-task-definition" in script and "aws ecs run-task" in script
    assert "aws ecs wait tasks-stopped" in script and '[ "$code" = "0" ]' in script
    assert "first_deploy=true" in script and "GITHUB_OUTPUT" in script


def test_a_release_succeeds_only_when_the_services_run_it() -> None:
    """Defect 10: a circuit-breaker rollback ends stable too, so stability alone reported it as a success."""
    apply = _load("deploy.yml")["jobs"]["apply"]
    assert _step_index(apply, "scripts/wait-stable.sh") == len(apply["steps"]) - 1
    script = (SCRIPTS / "wait-stable.sh").read_text()
    assert "aws ecs wait services-stable" in script
    assert "status==`PRIMARY`" in script and "rolloutState" in script and "COMPLETED" in script
    assert "service_task_definitions" in script
    assert "service_task_definitions" in (TF_ROOT / "outputs.tf").read_text()


def test_deploy_jobs_of_one_environment_never_overlap() -> None:
    jobs = _load("deploy.yml")["jobs"]
    for job in jobs.values():
        assert job["concurrency"] == {"group": "terraform-${{ inputs.environment }}", "cancel-in-progress": False}
        assert job["permissions"] == {"contents": "read", "id-token": "write"}


def test_scripts_are_executable_bash() -> None:
    for script in SCRIPTS.glob("*.sh"):
        assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        assert script.read_text().startswith("#!/usr/bin/env bash\n") and "set -euo pipefail" in script.read_text()


def test_workflow_files_are_the_known_ones() -> None:
    assert sorted(p.name for p in WORKFLOWS_DIR.glob("*.yml")) == ["ci.yml", "deploy.yml", "terraform.yml"]
    assert not list(Path(WORKFLOWS_DIR).glob("*.yaml"))
