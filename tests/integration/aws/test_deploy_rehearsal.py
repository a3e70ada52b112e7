"""Deploy rehearsal on loopback (issues 11 and 13): `terraform apply` of the dev root (live ingest on) against
moto, then the VOD flow and the live flow run by processes configured only from what Terraform created.

The steps follow docs/deploy.md's first deploy: apply, fill the secrets, run the migrate task, start the
services, upload, play, publish live, play live. The api, edge, worker and ingest run as real processes with
the environment and secrets of their ECS task definitions; the Lambda handlers run with their functions'
environment, fed from the queues their event source mappings name. Every health check of a target group or
container is run against the process it points at. `LOOPBACK` lists the only values the rehearsal changes, and
why.
"""

from __future__ import annotations

import datetime
import importlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit, urlunsplit

import boto3
import httpx
import pytest
from typer.testing import CliRunner

from streamstack.live.ingest import find_nginx
from streamstack.live.srt import free_udp_port
from tests.conftest import free_port, missing_part, reset_postgres, wait_until
from tests.e2e.processes import kill_tree
from tests.e2e.test_live_ingest_sigterm import STOP_MARGIN_SECONDS
from tests.e2e.test_live_rtmp import publish
from tests.integration.aws.conftest import FakeLambdaContext, sqs_event
from tests.integration.aws.test_vod_flow import uris
from tests.unit.media.llhls_rules import check_playlist

pytestmark = pytest.mark.timeout(900)

REPO = Path(__file__).resolve().parents[3]
TF_ROOT = REPO / "infra" / "terraform"
TF_MIRROR = Path(os.environ.get("STREAMSTACK_TF_MIRROR", "/opt/tf-plugins"))
REGION = "eu-west-1"
BIN = Path(sys.executable).parent
# Every AWS service the dev root and the app call, pointed at moto.
ENDPOINT_SERVICES = (
    "acm", "appautoscaling", "cloudfront", "cloudwatch", "dynamodb", "ec2", "ecr", "ecs", "elbv2", "events",
    "iam", "kms", "lambda", "logs", "mediaconvert", "rds", "s3", "secretsmanager", "sns", "sqs", "ssm", "sts",
    "wafv2",
)  # fmt: skip

_NO_CLOUDFRONT_POLICIES = "moto 5 implements no CloudFront cache, origin-request or response-headers policy API"
_NO_AUTOSCALING_TAGS = ("moto 5 answers 500 to Application Auto Scaling ListTagsForResource, which the provider "
                        "calls after every create")
# The dev root's resources that moto cannot create, with the reason. They are covered by the mock-provider
# plans of every environment (infra/terraform/tests, `terraform test`), not by this rehearsal.
NOT_CREATED: dict[str, str] = {
    "module.cdn.aws_cloudfront_cache_policy.segments": _NO_CLOUDFRONT_POLICIES,
    "module.cdn.aws_cloudfront_cache_policy.playlists": _NO_CLOUDFRONT_POLICIES,
    "module.cdn.aws_cloudfront_cache_policy.edge": _NO_CLOUDFRONT_POLICIES,
    "module.cdn.aws_cloudfront_response_headers_policy.playback": _NO_CLOUDFRONT_POLICIES,
    "module.cdn.aws_cloudfront_distribution.this": "its behaviours need the cache and response-headers policies "
                                                   "and the managed origin-request policy (data source) above",
    "module.cdn.aws_cloudfront_monitoring_subscription.this": "needs the distribution; moto 5 has no "
                                                              "CreateMonitoringSubscription either",
    "module.cdn.module.media_bucket.aws_s3_bucket_policy.this": "its OAC statement names the distribution's ARN",
    "module.cdn.module.media_bucket.aws_s3_bucket_logging.this": "moto 5 answers 500 to PutBucketLogging when the "
                                                                 "target bucket's policy has a Principal \"*\" "
                                                                 "statement (the deny of plain HTTP)",
    "module.event_processor.aws_sqs_queue_redrive_allow_policy.dlq": "moto 5 does not keep the RedriveAllowPolicy "
                                                                     "attribute; the provider waits for it forever",
    "module.api_service.aws_appautoscaling_target.web": _NO_AUTOSCALING_TAGS,
    "module.api_service.aws_appautoscaling_policy.requests": "needs the scalable target",
    "module.api_service.aws_appautoscaling_policy.cpu": "needs the scalable target",
    "module.api_service.aws_appautoscaling_scheduled_action.live_event_prescale": "needs the scalable target",
    "module.api_service.aws_appautoscaling_scheduled_action.live_event_restore": "needs the scalable target",
    "module.encoding.aws_appautoscaling_target.worker": _NO_AUTOSCALING_TAGS,
    "module.encoding.aws_appautoscaling_policy.backlog_per_task": "needs the scalable target",
    "module.live_ingest.aws_appautoscaling_target.ingest": _NO_AUTOSCALING_TAGS,
    # live_encoder = medialive (module live_managed): planned by the mock-provider run "live_managed"; the
    # per-stream requests are validated against botocore's models (tests/integration/aws/test_medialive.py).
    "module.live_managed.aws_medialive_input_security_group.publishers": "moto 5 implements no MediaLive input "
                                                                         "security groups",
    "module.live_managed.aws_media_packagev2_channel_group.this": "moto 5's MediaPackage v2 has no origin "
                                                                 "endpoints or harvest jobs, so a channel group "
                                                                 "there would prove nothing the plan does not",
}
# What the rehearsal changes in the configuration Terraform gives a process; everything else is used as created.
LOOPBACK: dict[str, str] = {
    "STREAMSTACK_AWS_ENDPOINT_URL": "every AWS API is moto on loopback",
    "STREAMSTACK_DATABASE_URL": "the RDS address moto returns resolves nowhere: the local PostgreSQL instead (no TLS "
                                "on loopback, so no verify-full), as the app user where the task uses IAM auth (trust "
                                "auth accepts the token it signs), else as the local superuser for the RDS master",
    "STREAMSTACK_API_HOST": "tasks listen on 0.0.0.0 in their own network namespace; here on 127.0.0.1",
    "STREAMSTACK_API_PORT": "8000 inside a task; a free port on this shared machine",
    "STREAMSTACK_EDGE_PORT": "8001 inside a task; a free port on this shared machine",
    "STREAMSTACK_DATA_DIR": "a temporary directory instead of the image's /var/lib/streamstack",
    "STREAMSTACK_RTMP_PORT": "ingest only: 1935 inside a task (the NLB's TCP listener's); a free port here",
    "STREAMSTACK_SRT_PORT": "ingest only: 8890 inside a task (the NLB's UDP listener's); a free UDP port here",
}
RTMP_PORT, SRT_PORT = 1935, 8890  # the live_ingest module's listener and container ports (dev keeps the defaults)
# The distribution is not created (NOT_CREATED), so the player-facing base URL is the edge on loopback, and its id
# and ARN name nothing (the app environment refers to the ARN, which would otherwise pull the distribution in).
CDN_OUTPUTS_OVERRIDE = """output "public_edge_url" {{
  value = "{edge_url}"
}}

output "distribution_id" {{
  value = "not-created-in-the-rehearsal"
}}

output "distribution_arn" {{
  value = "arn:aws:cloudfront::123456789012:distribution/not-created-in-the-rehearsal"
}}
"""


def require_terraform() -> str:
    """terraform and the provider mirror are on this machine kind: skip where absent, fail under CI."""
    terraform = shutil.which("terraform")
    if terraform is None:
        missing_part("terraform is not on PATH (this machine kind ships /usr/local/bin/terraform)")
    if not any(TF_MIRROR.glob("registry.terraform.io/hashicorp/aws/*")):
        missing_part(f"no hashicorp/aws provider in the filesystem mirror {TF_MIRROR}")
    return str(terraform)


def provider_override(endpoint: str) -> str:
    """Both aws providers of the root (default and us_east_1) talk to moto, with moto's fake credentials."""
    endpoints = "\n".join(f'    {service} = "{endpoint}"' for service in ENDPOINT_SERVICES)
    settings = f"""  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  max_retries                 = 2
  endpoints {{
{endpoints}
  }}"""
    return (f'terraform {{\n  backend "local" {{}}\n}}\n\nprovider "aws" {{\n{settings}\n}}\n\n'
            f'provider "aws" {{\n  alias = "us_east_1"\n{settings}\n}}\n')


def resource_addresses(directory: Path, prefix: str = "", instance: str = "") -> dict[str, str]:
    """Every managed resource of a root, module calls followed: its address without instance keys, mapped to
    the address a -target names it by (a module called with count is instance [0]; a target without its key
    would match no instance of it)."""
    from tests.infra.hcl import load_dir

    blocks = load_dir(directory)
    found = {f"{prefix}{rtype}.{rname}": f"{instance}{rtype}.{rname}" for block in blocks.get("resource", [])
             for rtype, named in block.items() for rname in named}
    for block in blocks.get("module", []):
        for name, body in block.items():
            key = "[0]" if "count" in body else ""
            found |= resource_addresses((directory / body["source"]).resolve(), f"{prefix}module.{name}.",
                                        f"{instance}module.{name}{key}.")
    return found


def without_keys(address: str) -> str:
    """A state address (module.live_ingest[0].aws_lb_listener.ingest["rtmp"]) as resource_addresses names it."""
    return re.sub(r"\[[^\]]*\]", "", address)


def self_signed_certificate() -> tuple[bytes, bytes]:
    """The API's certificate an operator would have in ACM (certificate PEM, key PEM)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "api.dev.rehearsal.test")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now)
                   .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return certificate.public_bytes(serialization.Encoding.PEM), key_pem


def signing_public_key() -> str:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.public_key().public_bytes(serialization.Encoding.PEM,
                                         serialization.PublicFormat.SubjectPublicKeyInfo).decode()


@dataclass
class Deployment:
    """What `terraform apply` left: its outputs, and clients of the (moto) account it created things in."""

    endpoint: str
    outputs: dict[str, Any]
    state_addresses: set[str]
    apply_seconds: float
    ports: dict[int, int]  # container port -> the local port its process listens on

    def client(self, service: str) -> Any:
        return boto3.client(service, endpoint_url=self.endpoint, region_name=REGION)


@pytest.fixture(scope="module")
def deployment(moto_endpoint: str, tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """`terraform init` from the mirror and `apply` of the dev root, in a copy, against moto."""
    terraform = require_terraform()
    work = tmp_path_factory.mktemp("rehearsal-tf")
    root = work / "root"
    shutil.copytree(TF_ROOT, root, ignore=shutil.ignore_patterns(".terraform*", "*.tfstate*", "tests"))
    api_port, edge_port, rtmp_port, srt_port = free_port(), free_port(), free_port(), free_udp_port()
    (root / "rehearsal_override.tf").write_text(provider_override(moto_endpoint))
    (root / "modules" / "cdn" / "rehearsal_override.tf").write_text(
        CDN_OUTPUTS_OVERRIDE.format(edge_url=f"http://127.0.0.1:{edge_port}"))
    (work / "cli.tfrc").write_text(f'provider_installation {{\n  filesystem_mirror {{\n    path = "{TF_MIRROR}"\n'
                                   '  }\n}\n')
    certificate, key = self_signed_certificate()
    acm = boto3.client("acm", endpoint_url=moto_endpoint, region_name=REGION)
    certificate_arn = acm.import_certificate(Certificate=certificate, PrivateKey=key)["CertificateArn"]
    account_inputs = {  # what CI passes besides environments/dev/terraform.tfvars (docs/deploy.md)
        "region": REGION,
        "container_image": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/streamstack:rehearsal",
        "lambda_package": {"type": "Image",
                           "image_uri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/streamstack:rehearsal-lambda"},
        "api_certificate_arn": certificate_arn,
        "public_api_url": f"http://127.0.0.1:{api_port}",  # the API's DNS name; here its loopback address
        "edge_origin_host": "edge-origin.dev.rehearsal.test",
        "signing_public_keys": {"rehearsal": signing_public_key()},
        "live_ingest": True,  # docs/deploy.md, "Live ingest on AWS": the ingest service behind its NLB
    }
    (root / "account.auto.tfvars.json").write_text(json.dumps(account_inputs))
    env = {**os.environ, "TF_CLI_CONFIG_FILE": str(work / "cli.tfrc"), "TF_IN_AUTOMATION": "1",
           "TF_DATA_DIR": str(work / ".terraform"), "CHECKPOINT_DISABLE": "1"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run([terraform, *args, "-no-color"], cwd=root, env=env, capture_output=True, text=True,
                                timeout=900)
        assert result.returncode == 0, f"terraform {args[0]} failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
        return result

    run("init", "-input=false")
    addresses = resource_addresses(root)
    assert set(NOT_CREATED) <= set(addresses), set(NOT_CREATED) - set(addresses)
    targets = [target for address, target in addresses.items() if address not in NOT_CREATED]
    started = time.monotonic()
    run("apply", "-input=false", "-auto-approve", "-parallelism=20", "-var-file=environments/dev/terraform.tfvars",
        *[f"-target={address}" for address in targets])
    apply_seconds = time.monotonic() - started
    outputs = {name: value.get("value") for name, value in json.loads(run("output", "-json").stdout).items()}
    state = set(run("state", "list").stdout.split())
    return Deployment(moto_endpoint, outputs, state, apply_seconds,
                      {8000: api_port, 8001: edge_port, RTMP_PORT: rtmp_port, SRT_PORT: srt_port})


def test_terraform_creates_every_resource_moto_implements(deployment: Deployment):
    """The targeted apply succeeded (every instance of every target created); nothing of NOT_CREATED exists."""
    created = {without_keys(address) for address in deployment.state_addresses}
    assert not created & set(NOT_CREATED)
    assert {"module.api_service.aws_ecs_task_definition.this", "module.event_processor.aws_lambda_function.handler",
            "module.database.aws_db_instance.this", "module.api_service.aws_lb_target_group.this"} <= created
    assert {f"module.live_ingest.{name}" for name in ("aws_lb.ingest", "aws_lb_listener.ingest",
            "aws_lb_target_group.ingest", "aws_ecs_task_definition.ingest", "aws_ecs_service.ingest")} <= created
    print(f"rehearsal apply: {len(deployment.state_addresses)} resource instances in {deployment.apply_seconds:.0f} s;"
          f" not created: {len(NOT_CREATED)}")


# --- the processes, configured from the task definitions and functions Terraform created -------------------


@dataclass
class TaskDefinition:
    """One container of an ECS task definition, as the rehearsal runs it."""

    family: str
    container: dict[str, Any]

    @property
    def command(self) -> list[str]:
        return list(self.container.get("command") or [])

    @property
    def environment(self) -> dict[str, str]:
        return {item["name"]: item["value"] for item in self.container.get("environment", [])}

    @property
    def port(self) -> int | None:
        mappings = self.container.get("portMappings") or []
        return mappings[0]["containerPort"] if mappings else None


def task_definitions(deployment: Deployment) -> dict[str, TaskDefinition]:
    """The task definitions of the cluster's services, plus the migrate task (`migrate_task_definition` output)."""
    ecs = deployment.client("ecs")
    cluster = deployment.outputs["cluster_name"]
    arns = [service["taskDefinition"] for service in
            ecs.describe_services(cluster=cluster, services=ecs.list_services(cluster=cluster)["serviceArns"])[
                "services"]]
    arns.append(deployment.outputs["migrate_task_definition"])
    found = {}
    for arn in arns:
        definition = ecs.describe_task_definition(taskDefinition=arn)["taskDefinition"]
        (container,) = definition["containerDefinitions"]
        found[container["name"]] = TaskDefinition(definition["family"], container)
    return found


def resolve_secret(secrets_manager: Any, value_from: str) -> str:
    """What ECS injects for `valueFrom`: a whole secret, or `<arn>:<json key>:<stage>:<version>`."""
    match = re.match(r"^(arn:[^:]+:secretsmanager:[^:]+:[^:]+:secret:[^:]+)(?::([^:]*):([^:]*):([^:]*))?$",
                     value_from)
    assert match, value_from
    arn, json_key = match.group(1), match.group(2)
    value = secrets_manager.get_secret_value(SecretId=arn)["SecretString"]
    return json.loads(value)[json_key] if json_key else value


@dataclass
class Rehearsal:
    deployment: Deployment
    database_url: str
    data_dir: Path
    logs: Path
    ports: dict[int, int]  # container port -> local port
    tasks: dict[str, TaskDefinition] = field(default_factory=dict)
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    def loopback(self, environment: dict[str, str]) -> dict[str, str]:
        """LOOPBACK's values for a container or function with this environment."""
        values = {
            "STREAMSTACK_AWS_ENDPOINT_URL": self.deployment.endpoint,
            "STREAMSTACK_DATABASE_URL": loopback_database_url(self.database_url, environment),
            "STREAMSTACK_API_HOST": "127.0.0.1",
            "STREAMSTACK_API_PORT": str(self.ports[8000]),
            "STREAMSTACK_EDGE_PORT": str(self.ports[8001]),
            "STREAMSTACK_DATA_DIR": str(self.data_dir),
        }
        if "STREAMSTACK_RTMP_PORT" in environment:  # the ingest's listeners; the other services only print them
            values |= {"STREAMSTACK_RTMP_PORT": str(self.ports[int(environment["STREAMSTACK_RTMP_PORT"])]),
                       "STREAMSTACK_SRT_PORT": str(self.ports[int(environment["STREAMSTACK_SRT_PORT"])])}
        assert set(values) <= set(LOOPBACK)
        return values

    def task_environment(self, name: str) -> dict[str, str]:
        """The container's environment and injected secrets, then LOOPBACK; nothing else of this machine's."""
        task = self.tasks[name]
        secrets_manager = self.deployment.client("secretsmanager")
        environment = task.environment
        for secret in task.container.get("secrets", []):
            environment[secret["name"]] = resolve_secret(secrets_manager, secret["valueFrom"])
        return {**base_environment(), **environment, **self.loopback(environment)}

    def run_task(self, name: str, *command_override: str) -> str:
        """A one-off task (`aws ecs run-task`, optionally with a command override) with the container's environment."""
        command = [str(BIN / "streamstack"), *(command_override or self.tasks[name].command)]
        result = subprocess.run(command, env=self.task_environment(name), capture_output=True, text=True, timeout=120)
        assert result.returncode == 0, f"{name} task failed:\n{result.stdout}\n{result.stderr[-4000:]}"
        return result.stdout

    def start_service(self, name: str) -> None:
        log = (self.logs / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen([str(BIN / "streamstack"), *self.tasks[name].command],
                                                env=self.task_environment(name), stdout=log, stderr=log)

    def log_tail(self, name: str) -> str:
        return (self.logs / f"{name}.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        for process in self.processes.values():
            process.terminate()
        for process in self.processes.values():
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                kill_tree(process.pid)  # the ingest's nginx and ffmpegs run in sessions of their own
                process.wait()


def base_environment() -> dict[str, str]:
    """What a container has besides its task definition: PATH, the task role's credentials (moto's)."""
    keep = ("PATH", "PYTHONPATH", "HOME", "LANG", "TMPDIR", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
            "AWS_SESSION_TOKEN")
    return {name: os.environ[name] for name in keep if name in os.environ} | {"AWS_DEFAULT_REGION": REGION}


def loopback_database_url(local_url: str, environment: dict[str, str]) -> str:
    """The local PostgreSQL as the passwordless app user the task names (IAM auth), else as its superuser."""
    if environment.get("STREAMSTACK_DATABASE_IAM_AUTH") != "true":
        return local_url
    local, user = urlsplit(local_url), urlsplit(environment["STREAMSTACK_DATABASE_URL"]).username
    return urlunsplit(local._replace(netloc=f"{user}@{local.hostname}:{local.port or 5432}"))


def fill_secrets(deployment: Deployment) -> None:
    """docs/deploy.md, after the first apply: the operator puts the values into the secrets Terraform created."""
    values = {"playback-signing-key": "{}", "webhook-signing-secret": "{}"}
    secrets_manager = deployment.client("secretsmanager")
    for name, arn in deployment.outputs["app_secret_arns"].items():
        secrets_manager.put_secret_value(SecretId=arn, SecretString=values[name])


@pytest.fixture(scope="module")
def rehearsal(deployment: Deployment, postgres_url: str, tmp_path_factory: pytest.TempPathFactory
              ) -> Iterator[Rehearsal]:
    """docs/deploy.md's first deploy after the apply: migrate task, services started, secrets filled."""
    reset_postgres(postgres_url)
    work = tmp_path_factory.mktemp("rehearsal-run")
    ready = Rehearsal(deployment, postgres_url, work / "data", work,
                      ports=deployment.ports)
    ready.tasks = task_definitions(deployment)
    assert set(ready.tasks) == {"api", "worker", "edge", "ingest", "migrate"}, sorted(ready.tasks)
    ready.run_task("migrate")
    try:
        for name in ("api", "edge", "worker", "ingest"):
            ready.start_service(name)
        for name, port in (("api", 8000), ("edge", 8001)):
            wait_until(lambda port=port: answers(f"http://127.0.0.1:{ready.ports[port]}/openapi.json")
                       or answers(f"http://127.0.0.1:{ready.ports[port]}/_edge/stats"), 60, f"the {name} process")
        if find_nginx() is not None:  # else the ingest runs SRT only, and the RTMP tests skip saying so
            wait_until(lambda: tcp_answers(ready.ports[RTMP_PORT]), 60, "the ingest's RTMP listener")
        fill_secrets(deployment)  # docs/deploy.md step 10: after the services first started
        yield ready
    finally:
        ready.stop()


def answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=2).status_code < 500
    except httpx.HTTPError:
        return False


def tcp_answers(port: int) -> bool:
    """An NLB TCP health check: the connection is accepted."""
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return True
    except OSError:
        return False


def require_rtmp() -> None:
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed: the ingest "
                     "task's RTMP listener and health checks cannot run")


# --- health checks ----------------------------------------------------------------------------------------


def test_every_target_group_health_check_passes(rehearsal: Rehearsal):
    """ALB target groups: the path and matcher Terraform gave them, on the process behind their port; NLB target
    groups (the ingest's RTMP and SRT): a TCP connection to their health-check port."""
    require_rtmp()
    elbv2 = rehearsal.deployment.client("elbv2")
    groups = [g for g in elbv2.describe_target_groups()["TargetGroups"]
              if g["TargetGroupName"].startswith(rehearsal.deployment.outputs["cluster_name"])]
    assert {g["Port"] for g in groups} == {8000, 8001, RTMP_PORT, SRT_PORT}
    for group in groups:
        if group["HealthCheckProtocol"] == "TCP":
            port = int(group["HealthCheckPort"])
            assert tcp_answers(rehearsal.ports[port]), (group["TargetGroupName"], port)
            continue
        url = f"http://127.0.0.1:{rehearsal.ports[group['Port']]}{group['HealthCheckPath']}"
        response = httpx.get(url, timeout=5)
        assert str(response.status_code) == group["Matcher"]["HttpCode"], (group["TargetGroupName"], url,
                                                                           response.status_code)


def test_every_container_health_check_passes(rehearsal: Rehearsal):
    """The healthCheck command of each container, run against the process it checks (its port mapped)."""
    require_rtmp()
    checked = []
    for name, task in rehearsal.tasks.items():
        check = task.container.get("healthCheck")
        if check is None:
            continue
        kind, program, *args = check["command"]
        assert kind == "CMD" and program == "python", check["command"]
        args = [re.sub(r"(127\.0\.0\.1(?::|', ))(\d+)", lambda m: f"{m.group(1)}{rehearsal.ports[int(m.group(2))]}",
                       a) for a in args]  # fmt: skip
        result = subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=30)
        assert result.returncode == 0, (name, check["command"], result.stderr[-2000:])
        checked.append(name)
    assert sorted(checked) == ["api", "edge", "ingest"]


# --- the VOD flow -----------------------------------------------------------------------------------------


@dataclass
class Function:
    """A Lambda function as created: its handler (image command), environment and the queue that feeds it."""

    name: str
    handler: str
    environment: dict[str, str]
    queue_url: str


def functions(deployment: Deployment) -> dict[str, Function]:
    """The handlers Terraform created, by entry point, each with the queue its event source mapping reads."""
    lambda_client, sqs = deployment.client("lambda"), deployment.client("sqs")
    found = {}
    for summary in lambda_client.list_functions()["Functions"]:
        if not summary["FunctionName"].startswith(deployment.outputs["cluster_name"]):
            continue
        configuration = lambda_client.get_function_configuration(FunctionName=summary["FunctionName"])
        (handler,) = configuration["ImageConfigResponse"]["ImageConfig"]["Command"]
        (mapping,) = [m for m in lambda_client.list_event_source_mappings()["EventSourceMappings"]
                      if m["FunctionArn"] == summary["FunctionArn"]]
        queue_url = sqs.get_queue_url(QueueName=mapping["EventSourceArn"].rsplit(":", 1)[-1])["QueueUrl"]
        # This test is the Lambda poller: moto's own would run the image in Docker and leave the messages hidden.
        lambda_client.update_event_source_mapping(UUID=mapping["UUID"], Enabled=False)
        found[handler.rsplit(".", 1)[-1]] = Function(summary["FunctionName"], handler,
                                                     configuration["Environment"]["Variables"], queue_url)
    return found


def invoke(rehearsal: Rehearsal, function: Function, bodies: list[str], monkeypatch: pytest.MonkeyPatch) -> Any:
    """Run the handler in this process with the function's environment (plus LOOPBACK), as Lambda would."""
    from streamstack.events import lambda_handlers
    from streamstack.settings import get_settings

    with monkeypatch.context() as patch:
        for name in [n for n in os.environ if n.startswith("STREAMSTACK_")]:
            patch.delenv(name)
        loopback = rehearsal.loopback(function.environment)
        for name, value in {**function.environment, **loopback, "AWS_DEFAULT_REGION": REGION}.items():
            patch.setenv(name, value)
        get_settings.cache_clear()
        lambda_handlers.reset_runtime()
        try:
            module, _, attribute = function.handler.rpartition(".")
            handler = getattr(importlib.import_module(module), attribute)
            queue_name = function.queue_url.rsplit("/", 1)[-1]
            return handler(sqs_event(bodies, queue=queue_name), FakeLambdaContext())
        finally:
            lambda_handlers.reset_runtime()
            get_settings.cache_clear()


def receive(sqs: Any, queue_url: str, *, until: Any, timeout: float) -> list[str]:
    """Bodies received and deleted until `until(bodies)` holds."""
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not until(bodies):
        batch = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
        for message in batch:
            bodies.append(message["Body"])
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=message["ReceiptHandle"])
    return bodies


def test_only_the_migrate_task_holds_the_master_password(rehearsal: Rehearsal):
    """Issue 11 defect 6: services and functions connect as the passwordless app user, TLS verified; nothing can
    go stale when RDS rotates the master password, which only the migrate task gets injected."""
    deployment = rehearsal.deployment
    environments = {name: task.environment for name, task in rehearsal.tasks.items()}
    environments |= {name: f.environment for name, f in functions(deployment).items()}
    master = deployment.client("rds").describe_db_instances()["DBInstances"][0]["MasterUsername"]
    for name, environment in environments.items():
        url = urlsplit(environment["STREAMSTACK_DATABASE_URL"])
        assert url.password is None and "sslmode=verify-full" in url.query, (name, url)
        assert "sslrootcert=/etc/ssl/certs/rds-global-bundle.pem" in url.query, (name, url)
        expected = (master, "false") if name == "migrate" else ("streamstack_app", "true")
        assert (url.username, environment["STREAMSTACK_DATABASE_IAM_AUTH"]) == expected, name
    secrets = {name: [s["name"] for s in task.container.get("secrets", [])] for name, task in rehearsal.tasks.items()}
    assert secrets == {"api": [], "worker": [], "edge": [], "ingest": [], "migrate": ["PGPASSWORD"]}
    assert "--app-user" in rehearsal.tasks["migrate"].command
    assert set(deployment.outputs["app_secret_arns"]) == {"playback-signing-key", "webhook-signing-secret"}


def test_the_vod_flow_runs_on_what_terraform_created(rehearsal: Rehearsal, clip: Path,
                                                     monkeypatch: pytest.MonkeyPatch):
    from streamstack.cli import app as cli

    deployment = rehearsal.deployment
    sqs = deployment.client("sqs")
    handlers = functions(deployment)
    assert set(handlers) == {"on_source_uploaded", "on_encoding_event"}
    api = f"http://127.0.0.1:{rehearsal.ports[8000]}"
    created = rehearsal.run_task("migrate", "keys", "create", "--name", "first-upload")  # docs/deploy.md step 11
    key = created.strip().splitlines()[-1]
    receive(sqs, handlers["on_source_uploaded"].queue_url, until=lambda _: False, timeout=2)  # s3:TestEvent

    # upload (presigned multipart to the bucket Terraform created) -> S3 notification on the sources queue
    result = CliRunner().invoke(cli, ["upload", str(clip), "--api-url", api, "--api-key", key])
    assert result.exit_code == 0, (result.output[-3000:], result.exception)
    asset_id = json.loads(result.stdout.strip().splitlines()[-1])["asset_id"]
    notifications = receive(sqs, handlers["on_source_uploaded"].queue_url, timeout=30,
                            until=lambda bodies: any(asset_id in body for body in bodies))
    assert any(asset_id in body for body in notifications), notifications

    # on_source_uploaded forwards to the encode queue; the worker process encodes and reports on the events queue
    assert invoke(rehearsal, handlers["on_source_uploaded"], notifications, monkeypatch) == {"batchItemFailures": []}
    events = receive(sqs, handlers["on_encoding_event"].queue_url, timeout=180,
                     until=lambda bodies: any(json.loads(b)["detail"]["status"] in ("COMPLETE", "ERROR")
                                              for b in bodies))
    assert [json.loads(body)["detail"]["status"] for body in events][-1:] == ["COMPLETE"], (
        events, rehearsal.log_tail("worker"))

    # on_encoding_event marks the asset ready; the API shows it
    assert invoke(rehearsal, handlers["on_encoding_event"], events, monkeypatch) == {"batchItemFailures": []}
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        asset = http.get(f"/v1/assets/{asset_id}").json()
    assert asset["status"] == "ready", asset

    # playback through the edge process, from the bucket
    edge = f"http://127.0.0.1:{rehearsal.ports[8001]}"
    with httpx.Client(timeout=10) as http:
        master_url = f"{edge}/{asset['playback_ids'][0]['id']}.m3u8"
        master = http.get(master_url)
        assert master.status_code == 200 and master.text.startswith("#EXTM3U"), master.text
        media_url = urljoin(master_url, uris(master.text)[0])
        media = http.get(media_url)
        assert media.status_code == 200 and "#EXT-X-ENDLIST" in media.text
        for uri in uris(media.text)[:2]:
            got = http.get(urljoin(media_url, uri))
            assert got.status_code == 200 and got.content
    for queue in ("sources", "encode", "events"):
        for suffix in ("", "-dlq"):
            url = sqs.get_queue_url(QueueName=f"{deployment.outputs['cluster_name']}-{queue}{suffix}")["QueueUrl"]
            attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
            assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0", (queue, suffix)




# --- the live flow ----------------------------------------------------------------------------------------


def test_live_ingest_is_created_behind_its_nlb_and_drains_within_its_stop_timeout(rehearsal: Rehearsal):
    """The live_ingest module in moto: the NLB, its TCP 1935 / UDP 8890 listeners and target groups (an hour's
    deregistration delay), the service on both, and a stopTimeout that covers the drain plus the hand-over."""
    deployment = rehearsal.deployment
    elbv2, ecs = deployment.client("elbv2"), deployment.client("ecs")
    (nlb,) = [b for b in elbv2.describe_load_balancers()["LoadBalancers"] if b["Type"] == "network"]
    assert deployment.outputs["ingest_host"] == nlb["DNSName"]
    listeners = elbv2.describe_listeners(LoadBalancerArn=nlb["LoadBalancerArn"])["Listeners"]
    assert sorted((x["Protocol"], x["Port"]) for x in listeners) == [("TCP", RTMP_PORT), ("UDP", SRT_PORT)]
    forwarded = {x["DefaultActions"][0]["TargetGroupArn"] for x in listeners}
    groups = elbv2.describe_target_groups(TargetGroupArns=sorted(forwarded))["TargetGroups"]
    for group in groups:
        attributes = {a["Key"]: a["Value"] for a in
                      elbv2.describe_target_group_attributes(TargetGroupArn=group["TargetGroupArn"])["Attributes"]}
        assert attributes["deregistration_delay.timeout_seconds"] == "3600", group["TargetGroupName"]
        assert group["TargetType"] == "ip" and group["HealthCheckPort"] == str(RTMP_PORT)
    cluster = deployment.outputs["cluster_name"]
    (service,) = ecs.describe_services(cluster=cluster, services=[f"{cluster}-ingest"])["services"]
    assert {(b["targetGroupArn"], b["containerPort"]) for b in service["loadBalancers"]} == {
        (g["TargetGroupArn"], g["Port"]) for g in groups}
    ingest = rehearsal.tasks["ingest"]
    assert ingest.command == ["ingest"] and ingest.environment["STREAMSTACK_LIVE_MAX_SESSIONS"] == "1"
    assert ingest.environment["STREAMSTACK_LIVE_HAND_OVER"] == "true", "a reconnect may land on any task"
    drain = float(ingest.environment["STREAMSTACK_LIVE_DRAIN_SECONDS"])
    # Fargate's maximum; the ingest hands over what outlives the drain within 15 s (tests/e2e/test_live_handover)
    assert drain + STOP_MARGIN_SECONDS <= ingest.container["stopTimeout"] <= 120


def test_live_flow_runs_on_what_terraform_created(rehearsal: Rehearsal, tmp_path: Path):
    """A publisher on the RTMP URL the api prints (the NLB's name and listener port; here loopback to the ingest
    process), live playback through the edge process from the bucket, and the session's recording after it."""
    require_rtmp()
    deployment = rehearsal.deployment
    api, edge = f"http://127.0.0.1:{rehearsal.ports[8000]}", f"http://127.0.0.1:{rehearsal.ports[8001]}"
    key = rehearsal.run_task("migrate", "keys", "create", "--name", "first-live").strip().splitlines()[-1]
    with httpx.Client(base_url=api, headers={"Authorization": f"Bearer {key}"}, timeout=10) as http:
        created = http.post("/v1/live-streams", json={"new_asset_settings": {"playback_policy": ["public"]}})
        assert created.status_code == 201, created.text
        stream = created.json()
        assert stream["rtmp_url"] == f"rtmp://{deployment.outputs['ingest_host']}:{RTMP_PORT}/live"
        assert stream["srt_url"].startswith(f"srt://{deployment.outputs['ingest_host']}:{SRT_PORT}?")
        # The NLB's name resolves nowhere here: its listener port forwards to the task's, here the ingest process.
        loopback = stream["rtmp_url"].replace(f"{deployment.outputs['ingest_host']}:{RTMP_PORT}",
                                              f"127.0.0.1:{rehearsal.ports[RTMP_PORT]}")
        publisher = publish(f"{loopback}/{stream['stream_key']}", 14)
        try:
            active = wait_until(lambda: (s := http.get(f"/v1/live-streams/{stream['id']}").json())[
                "active_asset_id"] and s, 30, f"the session\n{rehearsal.log_tail('ingest')}")  # fmt: skip
            master_url = f"{edge}/{active['playback_ids'][0]['id']}.m3u8"
            master = wait_until(lambda: (r := httpx.get(master_url, timeout=10)).status_code == 200 and r, 30,
                                f"the live master at the edge\n{rehearsal.log_tail('edge')}")  # fmt: skip
            media_url = urljoin(master_url, uris(master.text)[0])
            media = wait_until(lambda: "#EXT-X-PART:" in (r := httpx.get(media_url, timeout=10)).text and r, 30,
                               "parts in the live playlist")  # fmt: skip
            playlist = check_playlist(media.text)
            newest = ([p for segment in playlist.segments for p in segment.parts] + playlist.trailing_parts)[-1]
            part = httpx.get(urljoin(media_url, newest[1]), timeout=10)
            assert part.status_code == 200 and part.content[4:8] == b"moof", "a part, from the bucket via the edge"
            assert publisher.wait(timeout=40) == 0, publisher.stderr.read() if publisher.stderr else ""
        finally:
            if publisher.poll() is None:
                publisher.kill()
        assert http.put(f"/v1/live-streams/{stream['id']}/complete").status_code == 200
        done = wait_until(lambda: (s := http.get(f"/v1/live-streams/{stream['id']}").json())["status"] == "idle"
                          and s, 30, "the session to end")  # fmt: skip
        asset = http.get(f"/v1/assets/{done['recent_asset_ids'][0]}").json()
    assert asset["status"] == "ready" and asset["duration"] >= 8, asset
    vod = f"{edge}/{asset['playback_ids'][0]['id']}.m3u8"
    recording_url = urljoin(vod, uris(httpx.get(vod, timeout=10).text)[0])
    recording = httpx.get(recording_url, timeout=10).text
    assert "#EXT-X-ENDLIST" in recording and recording.count("#EXTINF:") >= 4, recording
