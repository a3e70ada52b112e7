"""moto in server mode on loopback, started and stopped by the tests; settings that point every client at it."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streamstack.aws import client
from streamstack.queue.base import Message, to_sqs_record
from streamstack.settings import Settings
from tests.conftest import make_settings

MOTO_POLL_SECONDS = 0.05
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    # AWS managed policies exist in every account; the Terraform rehearsal attaches some (test_deploy_rehearsal).
    "MOTO_IAM_LOAD_MANAGED_POLICIES": "true",
}


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """One moto server per test session; every test uses its own bucket and queue names."""
    from moto.server import ThreadedMotoServer

    with pytest.MonkeyPatch.context() as patch:
        for name, value in FAKE_CREDENTIALS.items():
            patch.setenv(name, value)
        patch.delenv("AWS_PROFILE", raising=False)
        serialize_moto_receives(patch)
        accept_the_longest_deregistration_delay(patch)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)  # the kernel picks the port
        server.start()
        try:
            host, port = server.get_host_and_port()
            yield f"http://{host}:{port}"
        finally:
            server.stop()


def serialize_moto_receives(patch: pytest.MonkeyPatch) -> None:
    """moto 5 picks and marks messages without a lock, so two server threads can receive one message.

    SQS hands a message to one receiver per visibility window; the contract checks that, so each
    (non-waiting) receive runs under one lock and the long poll is a loop outside it.
    """
    from moto.sqs.models import SQSBackend

    original = SQSBackend.receive_message
    lock = threading.Lock()

    def receive_message(self, queue_name, count, wait_seconds_timeout, visibility_timeout,  # type: ignore[no-untyped-def]
                        message_attribute_names=None):
        deadline = time.monotonic() + (wait_seconds_timeout or 0)
        while True:
            with lock:
                result = original(self, queue_name, count, 0, visibility_timeout, message_attribute_names)
            if result or time.monotonic() >= deadline:
                return result
            time.sleep(MOTO_POLL_SECONDS)

    patch.setattr(SQSBackend, "receive_message", receive_message)


MAX_DEREGISTRATION_DELAY = "3600"  # ELBv2's documented maximum (deregistration_delay.timeout_seconds, 0-3600)


def accept_the_longest_deregistration_delay(patch: pytest.MonkeyPatch) -> None:
    """moto 5 checks the delay against range(0, 3600), refusing the 3600 its own message calls valid (and AWS
    accepts; the live ingest's target groups use it). The rest of moto's validation stays as it is."""
    from moto.elbv2.models import ELBv2Backend

    original = ELBv2Backend.modify_target_group_attributes

    def modify_target_group_attributes(self, target_group_arn, attributes):  # type: ignore[no-untyped-def]
        key = "deregistration_delay.timeout_seconds"
        if attributes.get(key) != MAX_DEREGISTRATION_DELAY:
            return original(self, target_group_arn, attributes)
        original(self, target_group_arn, {**attributes, key: str(int(MAX_DEREGISTRATION_DELAY) - 1)})
        self.target_groups[target_group_arn].attributes[key] = MAX_DEREGISTRATION_DELAY
        return None

    patch.setattr(ELBv2Backend, "modify_target_group_attributes", modify_target_group_attributes)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def aws_settings(data_dir: Path, endpoint: str, **overrides: object) -> Settings:
    """The aws profile against moto: S3 bucket and SQS queue names unique to the test."""
    values: dict[str, object] = {
        "profile": "aws", "aws_endpoint_url": endpoint, "aws_region": "us-east-1",
        "s3_bucket": unique("media"), "encode_queue": unique("encode"), "events_queue": unique("events"),
    }
    values.update(overrides)
    return make_settings(data_dir, **values)


@pytest.fixture
def aws(tmp_path: Path, moto_endpoint: str) -> Settings:
    """aws-profile settings with their bucket created (production buckets come from Terraform)."""
    settings = aws_settings(tmp_path / "data", moto_endpoint)
    client("s3", settings).create_bucket(Bucket=settings.s3_bucket)
    return settings


logging.getLogger("werkzeug").setLevel(logging.WARNING)


class FakeLambdaContext:
    """The attributes Powertools reads from a Lambda context."""

    function_name = "streamstack-test-handler"
    function_version = "$LATEST"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:streamstack-test-handler"
    memory_limit_in_mb = 512
    aws_request_id = "c6af9ac6-7b61-11e6-9a41-93e812345678"
    log_group_name = "/aws/lambda/streamstack-test-handler"
    log_stream_name = "2026/11/28/[$LATEST]abc"

    def get_remaining_time_in_millis(self) -> int:
        return 300_000


def sqs_event(bodies: list[str], *, queue: str) -> dict[str, Any]:
    """An SQS event exactly as Lambda's event source mapping delivers it (one record per body)."""
    records = []
    for body in bodies:
        message = Message(message_id=str(uuid.uuid4()), receipt_handle=uuid.uuid4().hex, body=body, receive_count=1,
                          sent_timestamp_ms=int(time.time() * 1000))
        records.append(to_sqs_record(message, queue_arn=f"arn:aws:sqs:us-east-1:123456789012:{queue}"))
    return {"Records": records}


@pytest.fixture
def lambda_env(request: pytest.FixtureRequest, tmp_path: Path, moto_endpoint: str,
               monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The environment Terraform gives the handlers, against moto: bucket, queues, idempotency table, catalog.

    The catalog is SQLite in tmp, or PostgreSQL (as RDS in this shape) when parametrized indirectly with
    "postgresql".
    """
    from streamstack.db.session import upgrade
    from streamstack.events import lambda_handlers
    from streamstack.settings import get_settings
    from tests.conftest import reset_postgres

    database_url = None
    if getattr(request, "param", "sqlite") == "postgresql":
        database_url = request.getfixturevalue("postgres_url")
        reset_postgres(database_url)
        monkeypatch.setenv("STREAMSTACK_DATABASE_URL", database_url)
    settings = aws_settings(tmp_path / "data", moto_endpoint, auto_migrate=False, database_url=database_url)
    table = unique("idempotency")
    environment = {
        "STREAMSTACK_PROFILE": "aws", "STREAMSTACK_AWS_ENDPOINT_URL": moto_endpoint,
        "STREAMSTACK_S3_BUCKET": settings.s3_bucket, "STREAMSTACK_ENCODE_QUEUE": settings.encode_queue,
        "STREAMSTACK_EVENTS_QUEUE": settings.events_queue, "STREAMSTACK_DATA_DIR": str(settings.data_dir),
        "STREAMSTACK_AUTO_MIGRATE": "false", "STREAMSTACK_IDEMPOTENCY_TABLE": table,
        "STREAMSTACK_QUEUE_VISIBILITY_TIMEOUT": "30", "POWERTOOLS_METRICS_NAMESPACE": "Streamstack",
    }
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    create_aws_resources(settings, idempotency_table=table)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    upgrade(settings.resolved_database_url)
    get_settings.cache_clear()
    lambda_handlers.reset_runtime()
    yield settings
    lambda_handlers.reset_runtime()
    get_settings.cache_clear()


def create_aws_resources(settings: Settings, *, idempotency_table: str | None = None) -> None:
    """What Terraform creates: the bucket, the queues with their DLQs, the idempotency table."""
    from streamstack.queue.sqs import SqsQueue

    client("s3", settings).create_bucket(Bucket=settings.s3_bucket)
    for name in (settings.encode_queue, settings.events_queue):
        SqsQueue.from_settings(settings, name, create=True)
    if idempotency_table:
        client("dynamodb", settings).create_table(
            TableName=idempotency_table, BillingMode="PAY_PER_REQUEST",
            AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "S"}],
            KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        )


def new_asset(settings: Settings, *, status: str = "waiting", job_id: str | None = None) -> str:
    """A catalog asset as POST /v1/uploads leaves it."""
    from streamstack.assets import service as assets
    from streamstack.assets.models import NewAssetSettings
    from streamstack.db.session import open_catalog, session_scope

    engine, sessions = open_catalog(settings)
    try:
        with session_scope(sessions) as db_session:
            asset = assets.create_asset(db_session=db_session, new_asset_settings=NewAssetSettings())
            asset.status, asset.job_id = status, job_id
            return asset.id
    finally:
        engine.dispose()


def read_asset(settings: Settings, asset_id: str) -> dict[str, Any]:
    """The asset as the API shows it."""
    from streamstack.assets import service as assets
    from streamstack.db.session import open_catalog

    engine, sessions = open_catalog(settings)
    try:
        with sessions() as db_session:
            asset = assets.get_asset(db_session=db_session, asset_id=asset_id)
            assert asset is not None
            return assets.asset_to_out(asset, settings.edge_base_url).model_dump(mode="json")
    finally:
        engine.dispose()


def outbox_types(settings: Settings, asset_id: str) -> list[str]:
    """The webhook events recorded for an asset, oldest first: what subscribers will receive."""
    from sqlalchemy import select

    from streamstack.db.session import open_catalog
    from streamstack.webhooks.models import OutboxEvent

    engine, sessions = open_catalog(settings)
    try:
        with sessions() as db_session:
            rows = db_session.scalars(select(OutboxEvent).where(OutboxEvent.object_id == asset_id)
                                      .order_by(OutboxEvent.created_at, OutboxEvent.id)).all()
            return [row.type for row in rows]
    finally:
        engine.dispose()


@pytest.fixture
def aws_platform(tmp_path: Path, moto_endpoint: str) -> Iterator[Any]:
    """The platform in the aws profile (S3 store, SQS queues) on moto; the catalog is SQLite in tmp."""
    from streamstack.platform import build_platform

    settings = aws_settings(tmp_path / "data", moto_endpoint)
    create_aws_resources(settings)
    platform = build_platform(settings)
    yield platform
    platform.close()
