"""Structured logs: context ids on every line, request ids across the queue, and no secret in any line."""

from __future__ import annotations

import asyncio
import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI, Request
from fastapi.testclient import TestClient

from streamstack.observability import logging as slog
from streamstack.queue.base import Message, to_sqs_record
from streamstack.settings import Settings

log = logging.getLogger("streamstack.test")

API_KEY = "ssk_" + "Ab3_-xYz" * 5 + "Q9z"  # 43 url-safe characters
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhZG1pbiJ9.c2lnbmF0dXJl"
CF_SIGNATURE = "Nql641NHEUkUaXQHZINK1FZ~SYeUSoBJMxjdgqrzIdzV2gyEXPDNv0pYdWJkflDKJ3xIu7lbwRpSkG98NBlgPi4ZJpRRnVX4kXAJK6t"
CF_POLICY = "eyJTdGF0ZW1lbnQiOlt7IlJlc291cmNlIjoiaHR0cHM6Ly9jZG4uZXhhbXBsZS5jb20vKiJ9XX0_"
AMZ_SIGNATURE = "fe5f80f77d5fa3beca038a248ff027d0445342fe2855ddc963176630326f1024"
DB_PASSWORD = "Pg-s3cr3t-Pa55"
PLAIN_PASSWORD = "hunter2-correct-horse"
WEBHOOK_SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
AWS_ACCESS_KEY = "AKIAIOSFODNN7EXAMPLE"
BASIC = "dXNlcjpwYXNzd29yZA=="
PEM_BODY = "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7"
PEM = f"-----BEGIN RSA PRIVATE KEY-----\n{PEM_BODY}\nq2s8XW1k\n-----END RSA PRIVATE KEY-----"
SECRETS = [
    API_KEY, BEARER, CF_SIGNATURE, CF_POLICY, AMZ_SIGNATURE, DB_PASSWORD, PLAIN_PASSWORD,
    WEBHOOK_SECRET, AWS_ACCESS_KEY, BASIC, PEM_BODY,
]  # fmt: skip

LEAKY_MESSAGES = [
    f"Authorization: Bearer {BEARER}",
    f"authorization={API_KEY}",
    f"got key {API_KEY} from header",
    f"headers={{'authorization': 'Bearer {BEARER}', 'x-api-key': '{API_KEY}'}}",
    f"[(b'authorization', b'Bearer {BEARER}'), (b'cookie', b'CloudFront-Signature={CF_SIGNATURE}')]",
    f"GET /pb/master.m3u8?Expires=1700000000&Signature={CF_SIGNATURE}&Key-Pair-Id=K2JCJMDEHXQW5F",
    f"GET /pb/master.m3u8?Policy={CF_POLICY}&Signature={CF_SIGNATURE}&Key-Pair-Id=K2JCJMDEHXQW5F",
    f"Set-Cookie: CloudFront-Policy={CF_POLICY}; CloudFront-Signature={CF_SIGNATURE}; Path=/",
    f"https://bucket.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature={AMZ_SIGNATURE}",
    f"connecting to postgresql+psycopg://streamstack:{DB_PASSWORD}@db.internal:5432/streamstack",
    f"login password={PLAIN_PASSWORD} user=admin",
    f'{{"password": "{PLAIN_PASSWORD}", "user": "admin"}}',
    f"webhook secret {WEBHOOK_SECRET}",
    f"aws_access_key_id={AWS_ACCESS_KEY}",
    f"Authorization: Basic {BASIC}",
    f"loaded key {PEM}",
    f"truncated key -----BEGIN PRIVATE KEY-----\n{PEM_BODY}",
]


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = slog.configure_logging(Settings(log_json=True, log_level="DEBUG"), service="api", stream=out)
    yield out
    logging.getLogger().removeHandler(handler)


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_every_line_is_json_with_the_bound_context(stream: io.StringIO) -> None:
    with slog.log_context(request_id="req-1", asset_id="as_1"):
        log.info("probing %s", "input.mp4", extra={"rendition": "720p"})
        with slog.log_context(job_id="job_9"):
            log.warning("encode slow")
    log.info("outside")
    inside, nested, outside = records(stream)
    assert inside["message"] == "probing input.mp4"
    assert (inside["request_id"], inside["asset_id"], inside["rendition"]) == ("req-1", "as_1", "720p")
    assert inside["service"] == "api" and inside["level"] == "INFO" and inside["logger"] == "streamstack.test"
    assert (nested["asset_id"], nested["job_id"]) == ("as_1", "job_9")
    assert "request_id" not in outside and "job_id" not in outside


def test_concurrent_tasks_keep_their_own_request_ids(stream: io.StringIO) -> None:
    async def handle(request_id: str) -> None:
        with slog.log_context(request_id=request_id):
            await asyncio.sleep(0.01)
            log.info("done")

    async def main() -> None:
        await asyncio.gather(handle("a"), handle("b"))

    asyncio.run(main())
    assert sorted(line["request_id"] for line in records(stream) if line["message"] == "done") == ["a", "b"]


@pytest.mark.parametrize("message", LEAKY_MESSAGES)
def test_no_secret_appears_in_messages_or_arguments(stream: io.StringIO, message: str) -> None:
    log.info(message)
    log.info("value: %s", message)
    output = stream.getvalue()
    assert not [secret for secret in SECRETS if secret in output], output
    assert "REDACTED" in output


def test_no_secret_appears_in_extras_or_tracebacks(stream: io.StringIO) -> None:
    try:
        raise ValueError(f"bad token {API_KEY} for {LEAKY_MESSAGES[5]}")
    except ValueError:
        log.exception(
            "request failed",
            extra={
                "headers": {"Authorization": f"Bearer {BEARER}", "Cookie": f"CloudFront-Policy={CF_POLICY}"},
                "database_url": f"postgresql://app:{DB_PASSWORD}@rds:5432/app",
                "password": PLAIN_PASSWORD,
                "signed_urls": [LEAKY_MESSAGES[6]],
            },
            stack_info=True,
        )
    output = stream.getvalue()
    assert not [secret for secret in SECRETS if secret in output], output
    line = records(stream)[0]
    assert "ValueError" in line["exception"] and line["password"] == slog.REDACTED


def test_harmless_values_stay_readable(stream: io.StringIO) -> None:
    message = "asset as_123 playback policy=signed playback_token_ttl_seconds=3600 Key-Pair-Id=K2JCJMDEHXQW5F"
    log.info(message)
    assert records(stream)[0]["message"] == message


def test_text_format_carries_context_and_redaction() -> None:
    out = io.StringIO()
    handler = slog.configure_logging(Settings(log_json=False), service="worker", stream=out)
    try:
        with slog.log_context(job_id="job_1"):
            log.warning("key %s", API_KEY)
    finally:
        logging.getLogger().removeHandler(handler)
    line = out.getvalue()
    assert "job_id=job_1" in line and "service=worker" in line and API_KEY not in line


def test_configure_logging_is_idempotent() -> None:
    first = slog.configure_logging(Settings(), service="api", stream=io.StringIO())
    second = slog.configure_logging(Settings(), service="api", stream=io.StringIO())
    root = logging.getLogger().handlers
    try:
        assert first not in root and second in root
    finally:
        logging.getLogger().removeHandler(second)


def test_request_id_travels_through_message_attributes() -> None:
    with slog.log_context(request_id="req-42"):
        attributes = slog.inject_request_id({"kind": "encode"})
    assert attributes == {"kind": "encode", "request_id": "req-42"}
    message = Message("m1", "r1", "{}", 1, 0, attributes)
    assert slog.extract_request_id(message.message_attributes) == "req-42"
    record = to_sqs_record(message, queue_arn="arn:aws:sqs:us-east-1:1:encode")
    assert slog.extract_request_id(record["messageAttributes"]) == "req-42"
    with slog.message_context(record["messageAttributes"], asset_id="as_1"):
        assert slog.current_request_id() == "req-42"
        assert slog.current_context()["asset_id"] == "as_1"
    assert slog.current_request_id() is None


def test_missing_or_unsafe_request_ids_are_replaced() -> None:
    assert slog.inject_request_id() == {}
    assert slog.extract_request_id({"request_id": "x\ny"}) is None
    with slog.message_context({}):
        assert len(slog.current_request_id() or "") == 32


def test_middleware_binds_and_echoes_the_request_id(stream: io.StringIO) -> None:
    app = FastAPI()

    @app.get("/ping")
    def ping(request: Request) -> dict[str, str | None]:
        log.info("pong")
        assert request.state.request_id == slog.current_request_id()
        return {"request_id": slog.current_request_id()}

    app.add_middleware(slog.RequestContextMiddleware)
    client = TestClient(app)
    given = client.get("/ping", headers={"X-Request-ID": "abc-123"})
    assert given.headers["x-request-id"] == "abc-123" == given.json()["request_id"]
    fresh = client.get("/ping", headers={"X-Request-ID": "<script>"})
    assert fresh.headers["x-request-id"] != "<script>" and len(fresh.headers["x-request-id"]) == 32
    assert [line["request_id"] for line in records(stream) if line["message"] == "pong"] == [
        "abc-123",
        fresh.headers["x-request-id"],
    ]
