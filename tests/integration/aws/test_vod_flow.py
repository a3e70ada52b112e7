"""The whole VOD flow of the aws shape on moto (server mode), as issue 5 "How it is shown" lists it.

1 presigned multipart upload (the `streamstack upload` client) -> 2 S3 bucket notification to SQS
(moto delivers it) -> 3 `on_source_uploaded` -> 4 the ffmpeg worker -> 5 EventBridge-shaped event on
SQS -> 6 `on_encoding_event` -> 7 asset ready, renditions in S3 -> 8 playback through the edge from S3.
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pytest
from typer.testing import CliRunner

from streamstack.aws import client
from streamstack.cli import app as cli
from streamstack.events.lambda_handlers import on_encoding_event, on_source_uploaded
from streamstack.events.worker import Worker
from streamstack.platform import Platform, build_platform
from streamstack.queue.base import Queue
from streamstack.queue.sqs import SqsQueue
from streamstack.settings import Settings
from tests.conftest import LiveServer, new_api_key
from tests.infra.iam_policy import S3Recorder
from tests.integration.aws.conftest import FakeLambdaContext, read_asset, sqs_event, unique


def notify_sources_queue(settings: Settings) -> SqsQueue:
    """What Terraform wires: ObjectCreated under sources/ -> the `sources` queue."""
    queue = SqsQueue.from_settings(settings, unique("sources"), create=True)
    client("s3", settings).put_bucket_notification_configuration(
        Bucket=settings.s3_bucket,
        NotificationConfiguration={"QueueConfigurations": [{
            "QueueArn": queue.arn, "Events": ["s3:ObjectCreated:*"],
            "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "sources/"}]}},
        }]},
    )
    return queue


def drain(queue: Queue, *, expect_at_least: int, timeout: float = 20) -> list[str]:
    """Bodies received (and deleted) until at least `expect_at_least` came and a poll comes back empty."""
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = queue.receive(max_messages=10, wait_seconds=1)
        bodies += [m.body for m in batch]
        queue.delete_batch([m.receipt_handle for m in batch])
        if not batch and len(bodies) >= expect_at_least:
            break
    return bodies


@pytest.fixture
def platform(lambda_env: Settings) -> Platform:  # type: ignore[misc]
    built = build_platform(lambda_env)
    yield built
    built.close()


@pytest.mark.timeout(240)
@pytest.mark.parametrize("lambda_env", ["sqlite", "postgresql"], indirect=True)
def test_the_vod_flow_runs_on_s3_sqs_and_lambda_handlers(lambda_env: Settings, platform: Platform, clip: Path,
                                                        monkeypatch: pytest.MonkeyPatch):  # fmt: skip
    """Each step's S3 requests are recorded with the role that makes them on AWS, and must be ones its iam.tf
    policy allows (tests/infra/iam_policy.py; moto enforces none)."""
    from streamstack.api import create_app
    from streamstack.delivery.app import create_edge_app

    calls = S3Recorder(role=None)
    calls.attach(monkeypatch)
    sources = notify_sources_queue(lambda_env)
    drain(sources, expect_at_least=0, timeout=2)  # S3 sends s3:TestEvent when the notification is configured
    key = new_api_key(platform, name="flow")

    # 1. presigned multipart upload, by the CLI client; a text track added while it encodes
    calls.role = "api"
    with LiveServer(create_app(platform), lambda_env.api_port) as api:
        result = CliRunner().invoke(cli, ["upload", str(clip), "--api-url", api.url, "--api-key", key])
        assert result.exit_code == 0, result.output
        asset_id = json.loads(result.stdout.strip().splitlines()[-1])["asset_id"]
        track = httpx.post(f"{api.url}/v1/assets/{asset_id}/tracks", data={"language_code": "en"},
                           files={"file": ("en.vtt", b"WEBVTT\n\n00:00.200 --> 00:01.800\nHello\n")},
                           headers={"authorization": f"Bearer {key}"})  # fmt: skip
        assert track.status_code == 201, track.text
    calls.role = None
    assert platform.store.head(f"sources/{asset_id}").size == clip.stat().st_size

    # 2. the bucket notification reached SQS; 3. on_source_uploaded forwards it to the encode queue
    notifications = drain(sources, expect_at_least=1)
    assert any(f"sources%2F{asset_id}" in body or f"sources/{asset_id}" in body for body in notifications)
    calls.role = "on_source_uploaded"
    started = on_source_uploaded(sqs_event(notifications, queue=sources.name), FakeLambdaContext())
    assert started == {"batchItemFailures": []}
    assert platform.encode_queue.stats().visible == 1  # moto notifies twice for one multipart upload: idempotent

    # 4. the ffmpeg worker encodes from S3 into S3 and emits the job state change
    calls.role = "worker"
    worker = Worker(platform)
    encode_binding = worker.bindings()[1]
    assert worker.poll(encode_binding, wait_seconds=5) == 1

    # 5. the EventBridge-shaped event is on SQS; 6. on_encoding_event runs the metadata processor
    events = drain(platform.events_queue, expect_at_least=1)
    assert [json.loads(body)["detail"]["status"] for body in events] == ["COMPLETE"]
    calls.role = "on_encoding_event"  # it also publishes the text track into the master
    finished = on_encoding_event(sqs_event(events, queue=platform.events_queue.name), FakeLambdaContext())
    assert finished == {"batchItemFailures": []}
    calls.role = None

    # 7. ready, with its renditions in S3
    asset = read_asset(lambda_env, asset_id)
    assert asset["status"] == "ready", asset
    assert [(r["width"], r["height"]) for r in asset["renditions"]] == [(320, 180)]
    keys = {info.key for info in platform.store.list(f"assets/{asset_id}/")}
    assert f"assets/{asset_id}/master.m3u8" in keys and any(k.endswith(".m4s") for k in keys)
    assert all(queue.stats().visible == 0 and queue.dlq_stats().visible == 0
               for queue in (platform.encode_queue, platform.events_queue, sources))

    # 8. playback through the edge, reading from S3 (URIs resolved as a player resolves them)
    calls.role = "edge"
    with LiveServer(create_edge_app(platform), lambda_env.edge_port) as edge, httpx.Client() as http:
        master_url = f"{edge.url}/{asset['playback_ids'][0]['id']}.m3u8"
        master = http.get(master_url)
        assert master.status_code == 200 and master.text.startswith("#EXTM3U")
        assert "TYPE=SUBTITLES" in master.text, master.text
        media_url = urljoin(master_url, uris(master.text)[0])
        media = http.get(media_url)
        assert media.status_code == 200 and "#EXT-X-ENDLIST" in media.text
        for uri in uris(media.text)[:2]:  # the init section and the first segment
            got = http.get(urljoin(media_url, uri))
            assert got.status_code == 200 and got.content
    assert {c.role for c in calls.calls} >= {"api", "worker", "on_encoding_event", "edge"}, "S3 calls not recorded"
    denied = calls.denied(lambda_env.s3_bucket)
    assert not denied, f"AccessDenied on AWS: {sorted({(c.role, c.operation, c.key or c.prefix) for c in denied})[:5]}"


def uris(playlist: str) -> list[str]:
    """EXT-X-MAP URIs and URI lines, in order."""
    found = []
    for line in playlist.splitlines():
        if match := re.search(r'#EXT-X-MAP:URI="([^"]+)"', line):
            found.append(match.group(1))
        elif line and not line.startswith("#"):
            found.append(line)
    return found
