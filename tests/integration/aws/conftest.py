"""moto in server mode on loopback, started and stopped by the tests; settings that point every client at it."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamstack.aws import client
from streamstack.settings import Settings
from tests.conftest import free_port, make_settings

MOTO_POLL_SECONDS = 0.05
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
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
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
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
