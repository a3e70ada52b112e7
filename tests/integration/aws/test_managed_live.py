"""Managed live (live_encoder = "medialive"): the adapter and the API against MediaLive in moto's server mode,
and the events that come back (EventBridge samples shaped as AWS's docs show them) through the events queue's
handler, as the worker and the on_encoding_event Lambda run it.

MediaPackage v2 is not in moto here: moto 5.2.5 implements its channel groups and channels but not origin
endpoints or harvest jobs (CreateOriginEndpoint, CreateHarvestJob answer "not implemented"). So the
MediaPackage v2 client is botocore's own Stubber: every call is checked against the service model by
botocore (types, required members) and by `constraint_violations` (enums, lengths, name patterns), its
parameters are compared with what the stream needs, and the calls must come in the order AWS requires.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber
from fastapi.testclient import TestClient
from sqlalchemy import select

from streamstack.api import create_app
from streamstack.aws import client
from streamstack.events.handlers import events_record_handler, process_batch
from streamstack.live.models import LiveStream
from streamstack.media.managed_live import MediaLiveManagedLive, rtmp_server_url
from streamstack.media.medialive import (
    ManagedLiveNames,
    build_create_harvest_job,
    build_create_mediapackage_channel,
    build_create_origin_endpoint,
    build_origin_endpoint_policy,
    plan_managed_live,
)
from streamstack.platform import build_platform
from streamstack.settings import Settings
from streamstack.webhooks.models import OutboxEvent
from tests.conftest import bearer, make_settings, new_api_key
from tests.integration.aws.conftest import sqs_event, unique
from tests.integration.aws.test_medialive import MEDIAPACKAGE, constraint_violations

GROUP = "dev-streamstack"
ROLE = "arn:aws:iam::123456789012:role/dev-streamstack-medialive"
DISTRIBUTION = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL"
FAST_WAIT = {"Delay": 0, "MaxAttempts": 5}
SESSION = 12 * 3600


def managed_settings(data_dir: Path, endpoint: str) -> Settings:
    return make_settings(data_dir, aws_endpoint_url=endpoint, aws_region="us-east-1", s3_bucket=unique("media"),
                         medialive_role_arn=ROLE, medialive_input_security_group="1234567",
                         mediapackage_channel_group=GROUP, cdn_distribution_arn=DISTRIBUTION)  # fmt: skip


class CheckedMediaPackage:
    """A mediapackagev2 client whose calls botocore validates and a Stubber answers in the expected order."""

    def __init__(self) -> None:
        self.client = boto3.client("mediapackagev2", region_name="us-east-1", aws_access_key_id="testing",
                                   aws_secret_access_key="testing")  # fmt: skip
        self.stub = Stubber(self.client)
        self.problems: list[str] = []
        self.client.meta.events.register("provide-client-params.mediapackagev2.*", self._check)

    def _check(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        self.problems += constraint_violations(params, model.input_shape, model.name)

    def expect(self, operation: str, params: dict[str, Any], response: dict[str, Any] | None = None) -> None:
        self.stub.add_response(operation, response if response is not None else {}, params)

    def expect_conflict(self, operation: str, params: dict[str, Any]) -> None:
        self.stub.add_client_error(operation, "ConflictException", "already exists", 409, expected_params=params)


def channel_response(names: ManagedLiveNames) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"Arn": f"arn:aws:mediapackagev2:us-east-1:123456789012:channelGroup/{GROUP}/channel/{names.channel}",
            "ChannelName": names.channel, "ChannelGroupName": GROUP, "CreatedAt": now, "ModifiedAt": now}


def endpoint_response(names: ManagedLiveNames) -> dict[str, Any]:
    now = datetime.now(UTC)
    return {"Arn": channel_response(names)["Arn"] + "/originEndpoint/live", "ChannelGroupName": GROUP,
            "ChannelName": names.channel, "OriginEndpointName": "live", "ContainerType": "CMAF",
            "Segment": {}, "CreatedAt": now, "ModifiedAt": now}  # fmt: skip


def harvest_response(request: dict[str, Any]) -> dict[str, Any]:
    now = datetime.now(UTC)
    answer = {k: v for k, v in request.items() if k != "ClientToken"}
    return {**answer, "Arn": f"arn:aws:mediapackagev2:us-east-1:123456789012:harvestJob/{request['HarvestJobName']}",
            "CreatedAt": now, "ModifiedAt": now, "Status": "QUEUED"}


def expect_creation(mp: CheckedMediaPackage, names: ManagedLiveNames, settings: Settings) -> None:
    endpoint = build_create_origin_endpoint(names=names, plan=plan_managed_live(settings), session_seconds=SESSION)
    mp.expect("create_channel", build_create_mediapackage_channel(names=names), channel_response(names))
    mp.expect("create_origin_endpoint", endpoint, endpoint_response(names))
    expect_endpoint_policy(mp, names)


def expect_endpoint_policy(mp: CheckedMediaPackage, names: ManagedLiveNames) -> None:
    """The harvester and the distribution read the endpoint (the policy's content: test_medialive.py)."""
    mp.expect("put_origin_endpoint_policy", build_origin_endpoint_policy(names=names, role_arn=ROLE,
                                                                         region="us-east-1",
                                                                         distribution_arn=DISTRIBUTION))  # fmt: skip


def expect_deletion(mp: CheckedMediaPackage, names: ManagedLiveNames) -> None:
    mp.expect("delete_origin_endpoint", {"ChannelGroupName": GROUP, "ChannelName": names.channel,
                                         "OriginEndpointName": "live"})  # fmt: skip
    mp.expect("delete_channel", {"ChannelGroupName": GROUP, "ChannelName": names.channel})


@pytest.fixture
def wait_fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """moto settles a transition on the next describe: poll without the 5 s production delay."""
    monkeypatch.setattr("streamstack.media.managed_live.WAIT", FAST_WAIT)


@pytest.fixture
def adapter_parts(tmp_path: Path, moto_endpoint: str, wait_fast: None) -> Iterator[tuple[Any, ...]]:
    settings = managed_settings(tmp_path / "data", moto_endpoint)
    medialive = client("medialive", settings)
    mp = CheckedMediaPackage()
    with mp.stub:
        yield settings, medialive, mp, MediaLiveManagedLive(settings, medialive_client=medialive,
                                                            mediapackage_client=mp.client)  # fmt: skip
        mp.stub.assert_no_pending_responses()
    assert mp.problems == []


def ours(medialive: Any, operation: str, key: str, live_stream_id: str) -> list[dict[str, Any]]:
    items = medialive.get_paginator(operation).paginate().build_full_result()[key]
    return [i for i in items if (i.get("Tags") or {}).get("streamstack:live_stream_id") == live_stream_id]


def test_a_retried_create_then_start_stop_and_delete_in_aws_order(adapter_parts: tuple[Any, ...]) -> None:
    """A retry of a create that made the MediaPackage parts (they answer ConflictException) goes on; the
    MediaLive requests carry the stream's RequestId, which AWS answers with the first request's resource (moto
    does not, so that half is shown by the token); the catalog keeps the ids, so nothing is listed."""
    settings, medialive, mp, managed = adapter_parts
    stream_id = f"ls_{uuid.uuid4().hex[:12]}"
    names = managed.names(stream_id)
    sent: dict[str, dict[str, Any]] = {}
    for operation in ("CreateInput", "CreateChannel", "ListInputs", "ListChannels"):
        medialive.meta.events.register(f"provide-client-params.medialive.{operation}",
                                       lambda params, model, **_: sent.update({model.name: dict(params)}))  # fmt: skip
    mp.expect_conflict("create_channel", build_create_mediapackage_channel(names=names))
    endpoint = build_create_origin_endpoint(names=names, plan=plan_managed_live(settings), session_seconds=SESSION)
    mp.expect_conflict("create_origin_endpoint", endpoint)
    expect_endpoint_policy(mp, names)
    recorded: dict[str, str] = {}
    first = managed.create(live_stream_id=stream_id, stream_key="sk_secret", low_latency=True, session_seconds=SESSION,
                           record=recorded.update)  # fmt: skip
    assert recorded == {"input_id": first.input_id, "channel_id": first.channel_id}, "each id, as MediaLive answers"
    assert set(sent) == {"CreateInput", "CreateChannel"}, "no listing: ListInputs/ListChannels are not granted"
    assert (sent["CreateInput"]["RequestId"], sent["CreateChannel"]["RequestId"]) == (names.token("input"),
                                                                                      names.token("channel"))
    (made_input,) = ours(medialive, "list_inputs", "Inputs", stream_id)
    (channel,) = ours(medialive, "list_channels", "Channels", stream_id)
    # (moto answers with the output shape, which has no StreamName: the request's is checked in test_medialive.py)
    assert made_input["Type"] == "RTMP_PUSH" and len(made_input["Destinations"]) == 1
    assert channel["InputAttachments"][0]["InputId"] == made_input["Id"] == first.input_id
    assert channel["Destinations"][0]["MediaPackageSettings"] == [{"ChannelGroup": GROUP, "ChannelName": names.channel}]

    managed.start(first)
    assert medialive.describe_channel(ChannelId=first.channel_id)["State"] == "RUNNING"
    managed.stop(first)
    assert medialive.describe_channel(ChannelId=first.channel_id)["State"] == "IDLE"

    managed.start(first)
    expect_deletion(mp, names)
    managed.delete(live_stream_id=stream_id, input_id=first.input_id, channel_id=first.channel_id)
    assert medialive.describe_channel(ChannelId=first.channel_id)["State"] == "DELETED"
    assert medialive.describe_input(InputId=first.input_id)["State"] in ("DELETING", "DELETED")


def test_the_rtmp_url_is_the_input_destination_without_the_key() -> None:
    """DescribeInput as AWS answers it (botocore checks the response against the model): OBS's server URL."""
    medialive = boto3.client("medialive", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    answer = {"Id": "1234567", "Type": "RTMP_PUSH", "State": "DETACHED", "Destinations": [
        {"Ip": "203.0.113.10", "Port": "1935", "Url": "rtmp://203.0.113.10:1935/live/sk_secret"}]}  # fmt: skip
    with Stubber(medialive) as stub:
        stub.add_response("describe_input", answer, {"InputId": "1234567"})
        destination = medialive.describe_input(InputId="1234567")["Destinations"][0]
    assert rtmp_server_url(destination) == "rtmp://203.0.113.10:1935/live"
    assert rtmp_server_url({"StreamName": "live/sk_secret"}) is None


# --- the API and the events, end to end -----------------------------------------------------------------


@pytest.fixture
def managed_platform(tmp_path: Path, moto_endpoint: str, wait_fast: None) -> Iterator[tuple[Any, ...]]:
    settings = managed_settings(tmp_path / "data", moto_endpoint)
    platform = build_platform(settings)
    medialive = client("medialive", settings)
    mp = CheckedMediaPackage()
    platform.managed_live = MediaLiveManagedLive(settings, medialive_client=medialive, mediapackage_client=mp.client)
    with mp.stub, TestClient(create_app(platform)) as api:
        yield platform, api, bearer(new_api_key(platform)), medialive, mp
        mp.stub.assert_no_pending_responses()
    platform.close()
    assert mp.problems == []


def deliver(platform: Any, *events: dict[str, Any]) -> dict[str, Any]:
    """The events queue's handler, fed as the event source mapping feeds the Lambda."""
    batch = sqs_event([json.dumps(e) for e in events], queue="events")
    return process_batch(batch, events_record_handler(platform))


def alert(channel_arn: str, state: str, at: datetime, alert_type: str = "RTMP Has No Audio/Video") -> dict[str, Any]:
    """As AWS's "JSON for an alert event" page shows one (MediaLive user guide)."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "MediaLive Channel Alert",
            "source": "aws.medialive", "account": "111122223333", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1", "resources": [channel_arn],
            "detail": {"alarm_state": state, "alarm_id": uuid.uuid4().hex, "alert_type": alert_type,
                       "pipeline": "0", "channel_arn": channel_arn,
                       "message": "Waiting for RTMP input"}}  # fmt: skip


def state_change(channel_arn: str, state: str, at: datetime) -> dict[str, Any]:
    """As AWS's "JSON for a state change event" page shows one."""
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "MediaLive Channel State Change",
            "source": "aws.medialive", "account": "111122223333", "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "region": "us-east-1", "resources": [channel_arn],
            "detail": {"channel_arn": channel_arn, "state": state, "message": f"Channel {state.lower()}",
                       "pipelines_running_count": 0}}  # fmt: skip


def harvest_notification(names: ManagedLiveNames, asset_id: str, status: str, message: str = "") -> dict[str, Any]:
    """As the MediaPackage v2 User Guide's harvest job notification examples show one ("Monitoring AWS Elemental
    MediaPackage with EventBridge events"): the job under `detail.harvestJob`, its ARN in `resources`."""
    endpoint = f"arn:aws:mediapackagev2:us-east-1:111122223333:channelGroup/{GROUP}/channel/{names.channel}" \
               "/originEndpoint/live"  # fmt: skip
    arn = f"{endpoint}/harvestJob/{asset_id}"
    job = {"harvestJobName": asset_id, "arn": arn, "status": status, "channelGroupName": GROUP,
           "channelName": names.channel, "originEndpointName": "live",
           "scheduleConfiguration": {"startTime": "2030-06-01T19:00:00Z", "endTime": "2030-06-01T21:00:00Z"},
           "destination": {"s3Destination": {"bucketName": "media", "destinationPath": f"assets/{asset_id}"}},
           "harvestedManifests": {"hlsManifests": [{"manifestName": "master"}]},
           "message": message or "Your harvest job is complete."}  # fmt: skip
    return {"id": str(uuid.uuid4()), "detail-type": "MediaPackageV2 HarvestJob Notification",
            "source": "aws.mediapackagev2", "account": "111122223333", "time": "2030-06-01T21:00:00Z",
            "region": "us-east-1", "resources": [arn], "detail": {"harvestJob": job}}  # fmt: skip


def test_the_notification_statuses_are_mediapackages_own() -> None:
    """The statuses the handler tells apart are values of MediaPackage v2's HarvestJobStatus."""
    from streamstack.media.medialive import HARVEST_FAILED_STATUSES

    assert {"COMPLETED", *HARVEST_FAILED_STATUSES} <= set(MEDIAPACKAGE.shape_for("HarvestJobStatus").enum)


def webhooks(platform: Any, object_id: str) -> list[str]:
    with platform.sessions() as db_session:
        rows = db_session.scalars(select(OutboxEvent).where(OutboxEvent.object_id == object_id)
                                  .order_by(OutboxEvent.created_at, OutboxEvent.id))  # fmt: skip
        return [r.type.rsplit(".", 1)[1] if r.type.startswith("video.live_stream.") else r.type for r in rows]


def test_a_managed_stream_lives_through_the_api_and_the_events(managed_platform: tuple[Any, ...]) -> None:
    platform, api, headers, medialive, mp = managed_platform
    # Create: the MediaPackage channel and endpoint, the MediaLive input and channel; the channel starts.
    mp.stub.add_response("create_channel", channel_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("create_origin_endpoint", endpoint_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("put_origin_endpoint_policy", {}, None)
    created = api.post("/v1/live-streams", json={"new_asset_settings": {}}, headers=headers)
    assert created.status_code == 201, created.text
    stream = created.json()
    names = platform.managed_live.names(stream["id"])
    assert stream["srt_url"] is None, "MediaLive inputs take RTMP only"
    with platform.sessions() as db_session:
        managed = db_session.get(LiveStream, stream["id"]).managed
    arn = managed["channel_arn"]
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "RUNNING"
    (made_input,) = ours(medialive, "list_inputs", "Inputs", stream["id"])
    assert made_input["Id"] == managed["input_id"] and made_input["Type"] == "RTMP_PUSH"

    # The publisher arrives (the input-loss alert clears), twice delivered; then leaves.
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=10)
    arrived = alert(arn, "CLEARED", start)
    assert deliver(platform, arrived, arrived) == {"batchItemFailures": []}
    shown = api.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()
    assert shown["status"] == "active" and shown["connected"] and shown["active_asset_id"]
    asset_id = shown["active_asset_id"]
    assert webhooks(platform, stream["id"]) == ["created", "connected", "recording", "active"]
    deliver(platform, alert(arn, "SET", start + timedelta(minutes=4)))
    assert api.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()["connected"] is False

    # complete stops the channel; its state change ends the session and harvests the window.
    assert api.put(f"/v1/live-streams/{stream['id']}/complete", headers=headers).status_code == 200
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "IDLE"
    end = start + timedelta(minutes=5)
    harvest = build_create_harvest_job(names=names, asset_id=asset_id, bucket=platform.settings.s3_bucket,
                                       start=start, end=end)  # fmt: skip
    mp.expect("create_harvest_job", harvest, harvest_response(harvest))
    stopped = state_change(arn, "STOPPED", end)
    assert deliver(platform, stopped, stopped) == {"batchItemFailures": []}
    shown = api.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()
    assert shown["status"] == "idle" and shown["recent_asset_ids"] == [asset_id]
    asset = api.get(f"/v1/assets/{asset_id}", headers=headers).json()
    assert asset["status"] == "preparing" and asset["duration"] == 300.0, "ready once harvested"
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "RUNNING", "ready for the next"

    # The harvest completes (delivered twice): the recording is VOD, announced once.
    done = harvest_notification(names, asset_id, "COMPLETED")
    assert deliver(platform, done, done) == {"batchItemFailures": []}
    assert api.get(f"/v1/assets/{asset_id}", headers=headers).json()["status"] == "ready"
    assert webhooks(platform, asset_id).count("video.asset.ready") == 1
    assert "video.asset.live_stream_completed" in webhooks(platform, asset_id)

    # Delete: stop, delete the channel, its input, then the endpoint and the MediaPackage channel.
    expect_deletion(mp, names)
    assert api.delete(f"/v1/live-streams/{stream['id']}", headers=headers).status_code == 204
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "DELETED"
    assert webhooks(platform, stream["id"])[-1] == "deleted"


def test_a_failed_harvest_errors_the_recording_with_the_reason(managed_platform: tuple[Any, ...]) -> None:
    platform, api, headers, medialive, mp = managed_platform
    mp.stub.add_response("create_channel", channel_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("create_origin_endpoint", endpoint_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("put_origin_endpoint_policy", {}, None)
    stream = api.post("/v1/live-streams", json={"new_asset_settings": {}}, headers=headers).json()
    names = platform.managed_live.names(stream["id"])
    with platform.sessions() as db_session:
        managed = db_session.get(LiveStream, stream["id"]).managed
    arn = managed["channel_arn"]
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=3)
    deliver(platform, alert(arn, "CLEARED", start))
    asset_id = api.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()["active_asset_id"]
    assert api.put(f"/v1/live-streams/{stream['id']}/disable", headers=headers).status_code == 200
    harvest = build_create_harvest_job(names=names, asset_id=asset_id, bucket=platform.settings.s3_bucket,
                                       start=start, end=start + timedelta(minutes=1))  # fmt: skip
    mp.expect("create_harvest_job", harvest, harvest_response(harvest))
    deliver(platform, state_change(arn, "STOPPED", start + timedelta(minutes=1)))
    failed = harvest_notification(names, asset_id, "FAILED", "The harvest window is outside the startover window")
    assert deliver(platform, failed) == {"batchItemFailures": []}
    asset = api.get(f"/v1/assets/{asset_id}", headers=headers).json()
    assert asset["status"] == "errored"
    assert asset["errors"] == ["harvest job failed: The harvest window is outside the startover window"]
    shown = api.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()
    assert shown["status"] == "disabled" and shown["active_asset_id"] is None
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "IDLE", "it stays stopped"


def test_a_publisher_gone_past_the_reconnect_window_stops_the_channel_once(managed_platform: tuple[Any, ...]) -> None:
    """The worker's tick stops the channel; the channel's state change then ends the session as complete does."""
    from streamstack.live.managed import end_due_sessions

    platform, api, headers, medialive, mp = managed_platform
    mp.stub.add_response("create_channel", channel_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("create_origin_endpoint", endpoint_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("put_origin_endpoint_policy", {}, None)
    stream = api.post("/v1/live-streams", json={"reconnect_window": 60}, headers=headers).json()
    with platform.sessions() as db_session:
        managed = db_session.get(LiveStream, stream["id"]).managed
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=5)
    deliver(platform, alert(managed["channel_arn"], "CLEARED", start))
    gone = start + timedelta(minutes=2)
    deliver(platform, alert(managed["channel_arn"], "SET", gone))
    assert end_due_sessions(platform, now=gone + timedelta(seconds=59)) == 0, "within the 60 s window"
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "RUNNING"
    assert end_due_sessions(platform, now=gone + timedelta(seconds=61)) == 1
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "IDLE"
    assert end_due_sessions(platform) == 0, "asked once; the state change ends the session"
    deliver(platform, state_change(managed["channel_arn"], "STOPPED", start + timedelta(minutes=4)))
    shown = api.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()
    assert shown["status"] == "idle" and webhooks(platform, stream["id"])[-1] == "idle"
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "RUNNING"


def test_unknown_and_foreign_events_are_acknowledged_and_change_nothing(managed_platform: tuple[Any, ...]) -> None:
    platform, *_ = managed_platform
    foreign = state_change("arn:aws:medialive:us-east-1:111122223333:channel:999", "RUNNING", datetime.now(UTC))
    input_change = {**foreign, "detail-type": "MediaLive Channel Input Change", "detail": {"active_input": "x"}}
    harvest_of_nothing = harvest_notification(ManagedLiveNames(GROUP, GROUP, "ls_gone"), "as_gone", "COMPLETED")
    assert deliver(platform, foreign, input_change, harvest_of_nothing) == {"batchItemFailures": []}
    with platform.sessions() as db_session:
        assert db_session.scalars(select(OutboxEvent)).all() == []


def test_a_channel_aws_refuses_fails_the_create_and_leaves_no_stream(managed_platform: tuple[Any, ...]) -> None:
    platform, api, headers, _medialive, mp = managed_platform
    mp.stub.add_client_error("create_channel", "ServiceQuotaExceededException", "too many channels", 402,
                             expected_params=None)  # fmt: skip
    mp.stub.add_client_error("delete_origin_endpoint", "ResourceNotFoundException", "no endpoint", 404,
                             expected_params=None)  # fmt: skip
    mp.stub.add_client_error("delete_channel", "ResourceNotFoundException", "no channel", 404, expected_params=None)
    response = api.post("/v1/live-streams", json={}, headers=headers)
    assert response.status_code == 502 and "ServiceQuotaExceededException" in response.json()["detail"]
    assert api.get("/v1/live-streams", headers=headers).json()["data"] == []


def test_a_create_that_fails_half_way_leaves_nothing_in_medialive(managed_platform: tuple[Any, ...]) -> None:
    """The input is made, then MediaLive refuses the channel (a quota): the input goes too, and the stream."""
    from botocore.awsrequest import AWSResponse

    platform, api, headers, medialive, mp = managed_platform
    refusal = {"Error": {"Code": "TooManyRequestsException", "Message": "channel quota reached"},
               "ResponseMetadata": {"HTTPStatusCode": 429}}  # fmt: skip

    def refuse_channels(**_: Any) -> tuple[AWSResponse, dict[str, Any]]:
        return AWSResponse("https://medialive", 429, {}, None), refusal

    medialive.meta.events.register("before-call.medialive.CreateChannel", refuse_channels)
    mp.stub.add_response("create_channel", channel_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("create_origin_endpoint", endpoint_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("put_origin_endpoint_policy", {}, None)
    mp.stub.add_response("delete_origin_endpoint", {}, None)
    mp.stub.add_response("delete_channel", {}, None)
    inputs_before = {i["Id"] for i in medialive.list_inputs()["Inputs"] if i["State"] not in ("DELETING", "DELETED")}
    response = api.post("/v1/live-streams", json={}, headers=headers)
    assert response.status_code == 502 and "TooManyRequestsException" in response.json()["detail"]
    inputs_after = {i["Id"] for i in medialive.list_inputs()["Inputs"] if i["State"] not in ("DELETING", "DELETED")}
    assert inputs_after == inputs_before, "the half-made input is deleted"
    assert api.get("/v1/live-streams", headers=headers).json()["data"] == []


def test_a_managed_stream_plays_from_its_endpoint_with_a_signature_cloudfront_checks(
        managed_platform: tuple[Any, ...]) -> None:  # fmt: skip
    """The playback id names the endpoint's manifest under /out/v1/; its token signs that path's prefix, and
    the signature verifies for the manifest and a segment below it, not for another stream's endpoint."""
    from streamstack.keys.signing import create_signing_key
    from streamstack.signed_urls import split_signed_query, verify

    platform, api, headers, _medialive, mp = managed_platform
    for _ in range(2):
        mp.stub.add_response("create_channel", channel_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
        mp.stub.add_response("create_origin_endpoint", endpoint_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
        mp.stub.add_response("put_origin_endpoint_policy", {}, None)
    low = api.post("/v1/live-streams", json={"playback_policy": ["signed"]}, headers=headers).json()
    standard = api.post("/v1/live-streams", json={"latency_mode": "standard"}, headers=headers).json()
    base = platform.settings.edge_base_url
    endpoint = f"{base}/out/v1/{GROUP}/{GROUP}-{low['id']}/live/"
    assert low["playback_ids"][0]["url"] == f"{endpoint}ll.m3u8"
    assert standard["playback_ids"][0]["url"] == f"{base}/out/v1/{GROUP}/{GROUP}-{standard['id']}/live/master.m3u8"
    with platform.sessions() as db_session:
        key = create_signing_key(db_session=db_session)
        db_session.commit()
    token = api.post(f"/v1/playback-ids/{low['playback_ids'][0]['id']}/tokens", json={}, headers=headers).json()
    url, _, query = token["url"].partition("?")
    assert url == f"{endpoint}ll.m3u8"
    credentials, _rest = split_signed_query(query)
    assert credentials is not None

    def allowed(target: str) -> bool:
        return verify(credentials, urls=[target], public_key={key.id: key.public_key_pem}.get, now=time.time())

    assert allowed(f"{endpoint}ll.m3u8") and allowed(f"{endpoint}ll_1/segment_42.mp4")
    assert not allowed(f"{base}/out/v1/{GROUP}/{GROUP}-{standard['id']}/live/master.m3u8")


def test_a_new_stream_key_is_the_only_one_the_input_takes(managed_platform: tuple[Any, ...]) -> None:
    """reset-stream-key updates the input's stream name (the channel stopped meanwhile, as MediaLive requires,
    then running again); with a publisher live it is refused and the key stays."""
    platform, api, headers, medialive, mp = managed_platform
    sent: list[tuple[str, dict[str, Any]]] = []
    for operation in ("StopChannel", "UpdateInput", "StartChannel"):
        medialive.meta.events.register(f"provide-client-params.medialive.{operation}",
                                       lambda params, model, **_: sent.append((model.name, dict(params))))  # fmt: skip
    mp.stub.add_response("create_channel", channel_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("create_origin_endpoint", endpoint_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("put_origin_endpoint_policy", {}, None)
    stream = api.post("/v1/live-streams", json={}, headers=headers).json()
    with platform.sessions() as db_session:
        managed = db_session.get(LiveStream, stream["id"]).managed
    sent.clear()
    reset = api.post(f"/v1/live-streams/{stream['id']}/reset-stream-key", headers=headers)
    new_key = reset.json()["stream_key"]
    assert reset.status_code == 200 and new_key != stream["stream_key"]
    channel = {"ChannelId": managed["channel_id"]}
    assert sent == [("StopChannel", channel), ("UpdateInput", {"InputId": managed["input_id"], "Destinations": [
        {"StreamName": f"live/{new_key}"}]}), ("StartChannel", channel)]  # fmt: skip
    assert medialive.describe_channel(ChannelId=managed["channel_id"])["State"] == "RUNNING"

    deliver(platform, alert(managed["channel_arn"], "CLEARED", datetime.now(UTC).replace(microsecond=0)))
    refused = api.post(f"/v1/live-streams/{stream['id']}/reset-stream-key", headers=headers)
    assert refused.status_code == 409 and "publisher" in refused.json()["detail"]
    assert api.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()["stream_key"] == new_key
    assert len(sent) == 3, "nothing sent to MediaLive"


def test_the_stubbed_mediapackage_checks_are_real() -> None:
    """The checker the MediaPackage stub runs reports a request the model refuses."""
    request = build_create_mediapackage_channel(names=ManagedLiveNames(GROUP, GROUP, "ls_1"))
    request["InputType"] = "RTMP"
    assert constraint_violations(request, MEDIAPACKAGE.operation_model("CreateChannel").input_shape)


def rtmp_outputs(medialive: Any, channel_id: str) -> list[tuple[str, str]]:
    """(server URL, stream name) of each RTMP output of the channel, as MediaLive describes it."""
    channel = medialive.describe_channel(ChannelId=channel_id)
    destinations = {d["Id"]: d.get("Settings") or [] for d in channel["Destinations"]}
    refs = [o["OutputSettings"]["RtmpOutputSettings"]["Destination"]["DestinationRefId"]
            for g in channel["EncoderSettings"]["OutputGroups"] if "RtmpGroupSettings" in g["OutputGroupSettings"]
            for o in g["Outputs"]]  # fmt: skip
    return [(destinations[ref][0]["Url"], destinations[ref][0]["StreamName"]) for ref in refs]


def test_simulcast_targets_are_the_channels_rtmp_outputs(managed_platform: tuple[Any, ...]) -> None:
    """Targets given at creation are in the channel MediaLive makes; one added or removed while no publisher is
    live changes the channel (stopped, updated, running again); under a publisher the change is refused."""
    platform, api, headers, medialive, mp = managed_platform
    mp.stub.add_response("create_channel", channel_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("create_origin_endpoint", endpoint_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("put_origin_endpoint_policy", {}, None)
    first = {"url": "rtmps://live.example.invalid/rtmp/", "stream_key": "k1"}
    stream = api.post("/v1/live-streams", json={"simulcast_targets": [first]}, headers=headers).json()
    with platform.sessions() as db_session:
        managed = db_session.get(LiveStream, stream["id"]).managed
    channel_id = managed["channel_id"]
    assert rtmp_outputs(medialive, channel_id) == [("rtmps://live.example.invalid/rtmp", "k1")]

    targets = f"/v1/live-streams/{stream['id']}/simulcast-targets"
    added = api.post(targets, json={"url": "rtmp://a.rtmp.example.invalid/live2/k2"}, headers=headers)
    assert added.status_code == 201, added.text
    assert rtmp_outputs(medialive, channel_id) == [("rtmps://live.example.invalid/rtmp", "k1"),
                                                   ("rtmp://a.rtmp.example.invalid/live2", "k2")]  # fmt: skip
    assert medialive.describe_channel(ChannelId=channel_id)["State"] == "RUNNING", "ready for a publisher again"

    deliver(platform, alert(managed["channel_arn"], "CLEARED", datetime.now(UTC).replace(microsecond=0)))
    refused = api.post(targets, json={"url": "rtmp://b.rtmp.example.invalid/live"}, headers=headers)
    assert refused.status_code == 409 and "publisher" in refused.json()["detail"]
    first_id = stream["simulcast_targets"][0]["id"]
    assert api.delete(f"{targets}/{first_id}", headers=headers).status_code == 409
    assert len(api.get(targets, headers=headers).json()["data"]) == 2 and len(rtmp_outputs(medialive, channel_id)) == 2

    deliver(platform, alert(managed["channel_arn"], "SET", datetime.now(UTC).replace(microsecond=0)))
    assert api.delete(f"{targets}/{first_id}", headers=headers).status_code == 204
    assert rtmp_outputs(medialive, channel_id) == [("rtmp://a.rtmp.example.invalid/live2", "k2")]
    assert medialive.describe_channel(ChannelId=channel_id)["State"] == "RUNNING"


# --- a create that never finished, and changes to a channel that is still stopping ------------------------------


class ProcessDied(BaseException):
    """A killed API process: nothing after this point runs, the API's own cleanup included (it catches Exception)."""


def expect_any_mediapackage_creation(mp: CheckedMediaPackage) -> None:
    mp.stub.add_response("create_channel", channel_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("create_origin_endpoint", endpoint_response(ManagedLiveNames(GROUP, GROUP, "x")), None)
    mp.stub.add_response("put_origin_endpoint_policy", {}, None)


def provisioning_row(platform: Any, live_stream_id: str) -> Any:
    from streamstack.live.models import ManagedProvisioning

    with platform.sessions() as db_session:
        return db_session.get(ManagedProvisioning, live_stream_id)


def past_the_grace(platform: Any) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=platform.settings.managed_live_abandon_seconds + 1)


def assert_undone(medialive: Any, live_stream_id: str) -> None:
    """Every MediaLive resource tagged with the stream is deleted (listed here by the test, never by the app)."""
    for channel in ours(medialive, "list_channels", "Channels", live_stream_id):
        assert medialive.describe_channel(ChannelId=channel["Id"])["State"] == "DELETED"
    for made_input in ours(medialive, "list_inputs", "Inputs", live_stream_id):
        assert medialive.describe_input(InputId=made_input["Id"])["State"] in ("DELETING", "DELETED")


@pytest.mark.parametrize("dies_at", ["CreateChannel", "StartChannel"])
def test_a_create_whose_process_died_half_way_is_undone_by_the_worker_sweep(managed_platform: tuple[Any, ...],
                                                                            dies_at: str) -> None:  # fmt: skip
    """The API process dies after the input was made (at CreateChannel) or after the channel too (at StartChannel):
    the stream never committed, but its provisioning record did, with each id MediaLive answered. Within the grace
    period the sweep leaves it (a create may still be running); past it, everything the record names is deleted
    in AWS's order, then the record."""
    from streamstack.live import provisioning, service
    from streamstack.live.models import LiveStreamCreate

    platform, api, headers, medialive, mp = managed_platform
    expect_any_mediapackage_creation(mp)
    stream, targets = service.new_live_stream(LiveStreamCreate(simulcast_targets=[{"url": "rtmp://a.example.invalid/x"}]))

    def die(**_: Any) -> None:
        raise ProcessDied(dies_at)

    medialive.meta.events.register(f"before-call.medialive.{dies_at}", die)
    with pytest.raises(ProcessDied):
        provisioning.provision(managed=platform.managed_live, sessions=platform.sessions, stream=stream,
                               targets=targets)  # fmt: skip
    medialive.meta.events.unregister(f"before-call.medialive.{dies_at}", die)

    row = provisioning_row(platform, stream.id)
    (made_input,) = ours(medialive, "list_inputs", "Inputs", stream.id)
    channels = ours(medialive, "list_channels", "Channels", stream.id)
    assert row.input_id == made_input["Id"]
    if dies_at == "StartChannel":
        (channel,) = channels
        assert row.channel_id == channel["Id"]
    else:
        assert channels == [] and row.channel_id is None
    assert api.get("/v1/live-streams", headers=headers).json()["data"] == [], "the stream never committed"

    assert provisioning.sweep_abandoned(platform) == 0, "within managed_live_abandon_seconds"
    assert medialive.describe_input(InputId=made_input["Id"])["State"] not in ("DELETING", "DELETED")
    expect_deletion(mp, platform.managed_live.names(stream.id))
    later = past_the_grace(platform)
    assert provisioning.sweep_abandoned(platform, now=later) == 1
    assert_undone(medialive, stream.id)
    assert provisioning_row(platform, stream.id) is None
    assert provisioning.sweep_abandoned(platform, now=later) == 0, "undone once"


def test_a_create_whose_commit_fails_leaves_its_channel_to_the_sweep(managed_platform: tuple[Any, ...]) -> None:
    """The channel is made and running, then the stream's commit fails: the API answers 503 and keeps nothing,
    the record of the channel stays, and the worker's tick (as `streamstack worker` runs its ticks) deletes it."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    from streamstack.cli.run import worker_ticks
    from streamstack.live.models import ManagedProvisioning

    platform, api, headers, medialive, mp = managed_platform
    expect_any_mediapackage_creation(mp)

    def disk_full(session: Any) -> None:
        if any(isinstance(row, LiveStream) for row in session.identity_map.values()):
            raise OperationalError("COMMIT", {}, Exception("database or disk is full"))

    event.listen(platform.sessions, "before_commit", disk_full)
    try:
        response = api.post("/v1/live-streams", json={}, headers=headers)
    finally:
        event.remove(platform.sessions, "before_commit", disk_full)
    assert response.status_code == 503
    assert api.get("/v1/live-streams", headers=headers).json()["data"] == []
    with platform.sessions() as db_session:
        (row,) = db_session.scalars(select(ManagedProvisioning)).all()
        live_stream_id, channel_id = row.live_stream_id, row.channel_id
        assert row.input_id and channel_id
        row.created_at = datetime.now(UTC) - timedelta(seconds=platform.settings.managed_live_abandon_seconds + 1)
        db_session.commit()
    assert medialive.describe_channel(ChannelId=channel_id)["State"] == "RUNNING", "left behind, and billing"

    expect_deletion(mp, platform.managed_live.names(live_stream_id))
    for tick in worker_ticks(platform):
        tick()
    assert_undone(medialive, live_stream_id)
    assert provisioning_row(platform, live_stream_id) is None


def test_a_catalog_that_cannot_record_the_intent_stops_the_create_before_aws(managed_platform: tuple[Any, ...]) -> None:
    """No record, no AWS call: the create answers 503 (the catalog's failure, not MediaLive's) and makes nothing."""
    from sqlalchemy import event
    from sqlalchemy.exc import OperationalError

    from streamstack.live.models import ManagedProvisioning

    platform, api, headers, medialive, _mp = managed_platform

    def disk_full(session: Any) -> None:
        if any(isinstance(row, ManagedProvisioning) for row in session.new):
            raise OperationalError("COMMIT", {}, Exception("database or disk is full"))

    inputs_before = len(medialive.list_inputs()["Inputs"])
    event.listen(platform.sessions, "before_commit", disk_full)
    try:
        response = api.post("/v1/live-streams", json={}, headers=headers)
    finally:
        event.remove(platform.sessions, "before_commit", disk_full)
    assert response.status_code == 503 and "catalog" in response.json()["detail"]
    assert len(medialive.list_inputs()["Inputs"]) == inputs_before, "MediaLive was not called"
    assert api.get("/v1/live-streams", headers=headers).json()["data"] == []


def test_a_create_outlasting_the_grace_fails_rather_than_keep_a_swept_channel(
        managed_platform: tuple[Any, ...]) -> None:  # fmt: skip
    """The sweep takes over a create that is still running (it ran past the grace period): the create then fails
    at its commit, so no stream is left pointing at the channel the sweep deleted."""
    from streamstack.live import provisioning

    platform, api, headers, medialive, mp = managed_platform
    expect_any_mediapackage_creation(mp)
    swept: list[int] = []

    def sweep_meanwhile(**_: Any) -> None:
        if not swept:
            (row,) = _all_provisionings(platform)
            expect_deletion(mp, platform.managed_live.names(row.live_stream_id))
            swept.append(provisioning.sweep_abandoned(platform, now=past_the_grace(platform)))

    medialive.meta.events.register("before-call.medialive.StartChannel", sweep_meanwhile)
    response = api.post("/v1/live-streams", json={}, headers=headers)
    assert swept == [1]
    assert response.status_code == 503 and "create the stream again" in response.json()["detail"]
    assert api.get("/v1/live-streams", headers=headers).json()["data"] == []
    assert _all_provisionings(platform) == []


def _all_provisionings(platform: Any) -> list[Any]:
    from streamstack.live.models import ManagedProvisioning

    with platform.sessions() as db_session:
        return list(db_session.scalars(select(ManagedProvisioning)))


def test_a_refused_create_is_undone_at_once_and_leaves_no_record(managed_platform: tuple[Any, ...]) -> None:
    """AWS refuses the start: the API deletes what the record names itself, and the record with it."""
    from botocore.awsrequest import AWSResponse

    platform, api, headers, medialive, mp = managed_platform
    expect_any_mediapackage_creation(mp)
    mp.stub.add_response("delete_origin_endpoint", {}, None)
    mp.stub.add_response("delete_channel", {}, None)

    refusal = {"Error": {"Code": "UnprocessableEntityException", "Message": "channel cannot start"},
               "ResponseMetadata": {"HTTPStatusCode": 422}}  # fmt: skip
    medialive.meta.events.register("before-call.medialive.StartChannel",
                                   lambda **_: (AWSResponse("https://medialive", 422, {}, None), refusal))
    response = api.post("/v1/live-streams", json={}, headers=headers)
    assert response.status_code == 502 and "UnprocessableEntityException" in response.json()["detail"]
    assert _all_provisionings(platform) == []


@pytest.mark.parametrize("change", ["rekey", "retarget"])
def test_a_channel_still_stopping_is_changed_once_it_has_stopped(tmp_path: Path, wait_fast: None,
                                                                 change: str) -> None:  # fmt: skip
    """A disable, complete or session end leaves the channel STOPPING for a while, and MediaLive refuses
    UpdateInput and UpdateChannel until it is IDLE: the change waits for the stop, and the channel stays stopped
    (its state change event starts it again if the stream is enabled). moto settles every transition on the
    first describe, so it never shows STOPPING: MediaLive is botocore's Stubber here, each request and answer
    checked against the model, and a call out of MediaLive's order (UpdateInput while STOPPING) fails the test."""
    from streamstack.media.managed_live import ManagedChannel
    from streamstack.media.medialive import build_update_channel

    settings = managed_settings(tmp_path / "data", "http://127.0.0.1:9")
    medialive = boto3.client("medialive", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    problems: list[str] = []
    medialive.meta.events.register("provide-client-params.medialive.*", lambda params, model, **_: problems.extend(
        constraint_violations(params, model.input_shape, model.name)))  # fmt: skip
    managed = MediaLiveManagedLive(settings, medialive_client=medialive,
                                   mediapackage_client=CheckedMediaPackage().client)  # not called
    channel = ManagedChannel("1234567", "7654321", "arn:aws:medialive:us-east-1:123456789012:channel:7654321", None)
    described = {"ChannelId": channel.channel_id}
    with Stubber(medialive) as stub:
        for state in ("STOPPING", "STOPPING", "IDLE"):
            stub.add_response("describe_channel", {"Id": channel.channel_id, "State": state}, described)
        if change == "rekey":
            stub.add_response("update_input", {"Input": {"Id": channel.input_id}}, {
                "InputId": channel.input_id, "Destinations": [{"StreamName": "live/sk_new"}]})  # fmt: skip
            managed.rekey(channel, "sk_new")
        else:
            request = build_update_channel(channel_id=channel.channel_id, names=managed.names("ls_1"),
                                           input_id=channel.input_id, role_arn=ROLE,
                                           plan=plan_managed_live(settings), simulcast=[])  # fmt: skip
            stub.add_response("update_channel", {"Channel": {"Id": channel.channel_id, "State": "UPDATING"}}, request)
            for state in ("UPDATING", "IDLE"):
                stub.add_response("describe_channel", {"Id": channel.channel_id, "State": state}, described)
            managed.retarget(live_stream_id="ls_1", channel=channel, low_latency=True, simulcast=[])
        stub.assert_no_pending_responses()  # and nothing after: no StartChannel
    assert problems == []
