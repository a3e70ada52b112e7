"""The Lambda entry points, fed AWS-shaped SQS events, against moto: partial failures, idempotency, EMF."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber

from streamstack.aws import client
from streamstack.events.lambda_handlers import on_encoding_event, on_source_uploaded
from streamstack.queue.base import to_sqs_record
from streamstack.queue.sqs import SqsQueue
from streamstack.settings import Settings
from streamstack.storage.events import s3_object_created_event
from streamstack.storage.s3 import S3ObjectStore
from tests.integration.aws.conftest import (
    FakeLambdaContext,
    new_asset,
    outbox_types,
    read_asset,
    sqs_event,
    unique,
)

MASTER = (
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-INDEPENDENT-SEGMENTS\n"
    '#EXT-X-STREAM-INF:BANDWIDTH=400000,AVERAGE-BANDWIDTH=300000,CODECS="avc1.64000d",RESOLUTION=320x180,'
    "FRAME-RATE=30.000\n180p.m3u8\n"
)
MEDIA = (
    "#EXTM3U\n#EXT-X-VERSION:7\n#EXT-X-TARGETDURATION:2\n#EXT-X-PLAYLIST-TYPE:VOD\n"
    '#EXT-X-MAP:URI="180p_init.mp4"\n#EXTINF:2.000,\n180p_00000.m4s\n#EXT-X-ENDLIST\n'
)


def upload_source(settings: Settings, asset_id: str, data: bytes = b"not really a video") -> str:
    """Put a source object and return the SQS body S3 would send for it."""
    info = S3ObjectStore.from_settings(settings).put(f"sources/{asset_id}", [data])
    event = s3_object_created_event(settings.s3_bucket, info, event_name="ObjectCreated:CompleteMultipartUpload")
    return json.dumps(event)


def encode_queue(settings: Settings) -> SqsQueue:
    return SqsQueue.from_settings(settings, settings.encode_queue)


def job_complete_event(settings: Settings, asset_id: str, job_id: str, event_id: str = "e-1") -> str:
    """An EventBridge MediaConvert COMPLETE event as the events queue receives it."""
    prefix = f"s3://{settings.s3_bucket}/assets/{asset_id}/"
    return json.dumps({
        "version": "0", "id": event_id, "detail-type": "MediaConvert Job State Change", "source": "aws.mediaconvert",
        "account": "123456789012", "time": "2026-11-28T12:00:00Z", "region": "us-east-1",
        "resources": [f"arn:aws:mediaconvert:us-east-1:123456789012:jobs/{job_id}"],
        "detail": {
            "timestamp": 1795867200000, "accountId": "123456789012",
            "queue": "arn:aws:mediaconvert:us-east-1:123456789012:queues/Default", "jobId": job_id,
            "status": "COMPLETE", "userMetadata": {"asset_id": asset_id},
            "outputGroupDetails": [{
                "outputDetails": [{"outputFilePaths": [prefix + "180p.m3u8"], "durationInMs": 2000,
                                   "videoDetails": {"widthInPx": 320, "heightInPx": 180}}],
                "playlistFilePaths": [prefix + "master.m3u8"], "type": "HLS_GROUP",
            }],
        },
    })


def put_outputs(settings: Settings, asset_id: str) -> None:
    store = S3ObjectStore.from_settings(settings)
    for name, body in (("master.m3u8", MASTER), ("180p.m3u8", MEDIA), ("180p_init.mp4", "i" * 100),
                       ("180p_00000.m4s", "s" * 5000)):
        store.put(f"assets/{asset_id}/{name}", [body.encode()])


def test_a_source_upload_is_forwarded_to_the_ffmpeg_workers(lambda_env: Settings):
    asset_id = new_asset(lambda_env)
    body = upload_source(lambda_env, asset_id)
    result = on_source_uploaded(sqs_event([body], queue="sources"), FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    (message,) = encode_queue(lambda_env).receive(wait_seconds=1)
    assert json.loads(message.body) == json.loads(body)


def test_a_notification_delivered_twice_starts_one_encode(lambda_env: Settings):
    body = upload_source(lambda_env, new_asset(lambda_env))
    on_source_uploaded(sqs_event([body], queue="sources"), FakeLambdaContext())
    again = on_source_uploaded(sqs_event([body], queue="sources"), FakeLambdaContext())
    assert again == {"batchItemFailures": []}
    assert encode_queue(lambda_env).stats().visible == 1
    items = client("dynamodb", lambda_env).scan(TableName=_table())["Items"]
    assert [item["status"]["S"] for item in items] == ["COMPLETED"]


def test_only_the_failing_record_of_a_batch_is_retried(lambda_env: Settings):
    good = [upload_source(lambda_env, new_asset(lambda_env)) for _ in range(2)]
    event = sqs_event([good[0], "{not json", good[1]], queue="sources")
    result = on_source_uploaded(event, FakeLambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][1]["messageId"]}]}
    assert encode_queue(lambda_env).stats().visible == 2


def test_s3_test_events_are_acknowledged(lambda_env: Settings):
    test_event = json.dumps({"Service": "Amazon S3", "Event": "s3:TestEvent", "Time": "2026-11-28T12:00:00.000Z",
                             "Bucket": lambda_env.s3_bucket, "RequestId": "R", "HostId": "H"})
    assert on_source_uploaded(sqs_event([test_event], queue="sources"), FakeLambdaContext()) == {
        "batchItemFailures": []}
    assert encode_queue(lambda_env).stats().visible == 0


def test_an_encoding_event_makes_the_asset_ready_once(lambda_env: Settings):
    asset_id = new_asset(lambda_env, status="preparing", job_id="1795867200000-abc123")
    put_outputs(lambda_env, asset_id)
    body = job_complete_event(lambda_env, asset_id, "1795867200000-abc123")
    for _ in range(2):
        assert on_encoding_event(sqs_event([body], queue="events"), FakeLambdaContext()) == {"batchItemFailures": []}
    assert outbox_types(lambda_env, asset_id) == ["video.asset.created", "video.asset.ready"]  # one ready, not two
    asset = read_asset(lambda_env, asset_id)
    assert asset["status"] == "ready"
    assert [(r["name"], r["width"], r["height"]) for r in asset["renditions"]] == [("180p", 320, 180)]


def test_a_wrong_message_on_the_events_queue_fails_alone(lambda_env: Settings):
    asset_id = new_asset(lambda_env, status="preparing", job_id="J")
    put_outputs(lambda_env, asset_id)
    event = sqs_event([json.dumps({"hello": "world"}), job_complete_event(lambda_env, asset_id, "J")], queue="events")
    result = on_encoding_event(event, FakeLambdaContext())
    assert result == {"batchItemFailures": [{"itemIdentifier": event["Records"][0]["messageId"]}]}
    assert read_asset(lambda_env, asset_id)["status"] == "ready"


def test_managed_live_events_reach_on_encoding_event_and_are_applied_once(lambda_env: Settings):
    """A harvest notification (twice, as EventBridge may send it) readies the recording once; a MediaLive
    event of a channel no stream owns is acknowledged, never retried into the DLQ."""
    from streamstack.media.medialive import ManagedLiveNames
    from tests.integration.aws.test_managed_live import GROUP, harvest_notification, state_change

    asset_id = new_asset(lambda_env, status="preparing")
    done = json.dumps(harvest_notification(ManagedLiveNames(GROUP, GROUP, "ls_1"), asset_id, "COMPLETED"))
    foreign = json.dumps(state_change("arn:aws:medialive:us-east-1:111122223333:channel:9", "STOPPED",
                                      datetime.now(UTC)))  # fmt: skip
    for _ in range(2):
        result = on_encoding_event(sqs_event([done, foreign], queue="events"), FakeLambdaContext())
        assert result == {"batchItemFailures": []}
    assert read_asset(lambda_env, asset_id)["status"] == "ready"
    assert outbox_types(lambda_env, asset_id) == ["video.asset.created", "video.asset.live_stream_completed",
                                                  "video.asset.ready"]  # fmt: skip


def test_metrics_are_emf_in_the_streamstack_namespace(lambda_env: Settings, capsys: pytest.CaptureFixture[str]):
    body = upload_source(lambda_env, new_asset(lambda_env))
    on_source_uploaded(sqs_event([body, "{bad"], queue="sources"), FakeLambdaContext())
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    ours = {d["outcome"]: d["streamstack_lambda_records_total"] for d in documents
            if d["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "Streamstack"
            and d.get("handler") == "source_uploaded" and "streamstack_lambda_records_total" in d}
    assert ours == {"processed": 1.0, "failed": 1.0}


def test_mediaconvert_is_chosen_by_setting(lambda_env: Settings, clip: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STREAMSTACK_ENCODER", "mediaconvert")
    monkeypatch.setenv("STREAMSTACK_MEDIACONVERT_ROLE_ARN", "arn:aws:iam::123456789012:role/mc")
    from streamstack.settings import get_settings

    get_settings.cache_clear()
    asset_id = new_asset(lambda_env)
    body = upload_source(lambda_env, asset_id, clip.read_bytes())
    mc = boto3.client("mediaconvert", region_name="us-east-1", endpoint_url="https://mc.example.com")
    stub = Stubber(mc)
    stub.add_response("create_job", {"Job": {"Id": "1795867200000-mc0001", "Role": "r", "Settings": {}}})
    monkeypatch.setattr("streamstack.media.encoder.mediaconvert_client", lambda settings: mc)
    with stub:
        result = on_source_uploaded(sqs_event([body], queue="sources"), FakeLambdaContext())
    assert result == {"batchItemFailures": []}
    stub.assert_no_pending_responses()
    assert encode_queue(lambda_env).stats().visible == 0
    asset = read_asset(lambda_env, asset_id)
    assert asset["status"] == "preparing"


def test_a_source_mediaconvert_cannot_read_errors_the_asset(lambda_env: Settings, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("STREAMSTACK_ENCODER", "mediaconvert")
    monkeypatch.setenv("STREAMSTACK_MEDIACONVERT_ROLE_ARN", "arn:aws:iam::123456789012:role/mc")
    from streamstack.settings import get_settings

    get_settings.cache_clear()
    asset_id = new_asset(lambda_env)
    body = upload_source(lambda_env, asset_id, b"\x00" * 4096)
    assert on_source_uploaded(sqs_event([body], queue="sources"), FakeLambdaContext()) == {"batchItemFailures": []}
    asset = read_asset(lambda_env, asset_id)
    assert asset["status"] == "errored" and asset["errors"]


def _table() -> str:
    return os.environ["STREAMSTACK_IDEMPOTENCY_TABLE"]


def invoke_from_queue(queue: SqsQueue, handler, *, visibility_timeout: int) -> dict:  # type: ignore[no-untyped-def]
    """What Lambda's event source mapping does: receive a batch, invoke, delete all but batchItemFailures."""
    messages = queue.receive(max_messages=10, wait_seconds=2, visibility_timeout=visibility_timeout)
    event = {"Records": [to_sqs_record(m, queue_arn=queue.arn) for m in messages]}
    result = handler(event, FakeLambdaContext())
    failed = {item["itemIdentifier"] for item in result["batchItemFailures"]}
    queue.delete_batch([m.receipt_handle for m in messages if m.message_id not in failed])
    return result


def test_only_the_failing_record_comes_back_from_sqs(lambda_env: Settings):
    sources = SqsQueue.from_settings(lambda_env, unique("sources"), create=True)
    for body in (upload_source(lambda_env, new_asset(lambda_env)), "{not json",
                 upload_source(lambda_env, new_asset(lambda_env))):
        sources.send(body)
    first = invoke_from_queue(sources, on_source_uploaded, visibility_timeout=1)
    assert len(first["batchItemFailures"]) == 1
    (again,) = sources.receive(wait_seconds=5, visibility_timeout=30)
    assert again.body == "{not json" and again.receive_count == 2
    assert encode_queue(lambda_env).stats().visible == 2
