"""moto in server mode on loopback, started and stopped by the tests; settings that point every client at it."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamstack.aws import client
from streamstack.settings import Settings
from tests.conftest import free_port, make_settings

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
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        try:
            yield f"http://127.0.0.1:{port}"
        finally:
            server.stop()


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
