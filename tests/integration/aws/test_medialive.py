"""MediaLive and MediaPackage v2 requests built from the live ladder, validated against botocore's service models
(types, ranges, required members, and the enums, lengths and name patterns botocore's validator leaves out)."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.model import Shape
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from streamstack.media.live import plan_live
from streamstack.media.medialive import (
    NOMINAL_CONTRIBUTION,
    ManagedLiveNames,
    SimulcastDestination,
    build_create_channel,
    build_create_harvest_job,
    build_create_input,
    build_create_mediapackage_channel,
    build_create_origin_endpoint,
    build_origin_endpoint_policy,
    build_update_channel,
    h264_level,
    plan_managed_live,
)
from streamstack.settings import Settings

SESSION = botocore.session.get_session()
MEDIALIVE = SESSION.get_service_model("medialive")
MEDIAPACKAGE = SESSION.get_service_model("mediapackagev2")
ROLE = "arn:aws:iam::123456789012:role/dev-streamstack-medialive"
DISTRIBUTION = "arn:aws:cloudfront::123456789012:distribution/E2QWRUHAPOMQZL"
NAMES = ManagedLiveNames(prefix="dev-streamstack", channel_group="dev-streamstack", live_stream_id="ls_01JD6Q8Z")
TARGETS = (SimulcastDestination.of("st_1", "rtmps://live-api-s.facebook.com:443/rtmp/", "FB-key-1"),
           SimulcastDestination.of("st_2", "rtmp://a.rtmp.youtube.com/live2/yt-key-2", None))


def constraint_violations(value: Any, shape: Shape, path: str = "") -> list[str]:
    """What botocore's validator does not check: enums, string lengths and name patterns."""
    if shape.type_name == "structure":
        return [v for key, item in value.items()
                for v in constraint_violations(item, shape.members[key], f"{path}.{key}")]  # fmt: skip
    if shape.type_name == "list":
        return [v for i, item in enumerate(value) for v in constraint_violations(item, shape.member, f"{path}[{i}]")]
    if shape.type_name == "map":
        return [v for key, item in value.items() for v in constraint_violations(item, shape.value, f"{path}.{key}")]
    problems = []
    enum = getattr(shape, "enum", None)
    if enum and value not in enum:
        problems.append(f"{path}={value!r} not in {enum}")
    if shape.type_name == "string":
        meta = shape.metadata
        if "pattern" in meta and not re.fullmatch(meta["pattern"], value):
            problems.append(f"{path}={value!r} does not match {meta['pattern']}")
        if not meta.get("min", 0) <= len(value) <= meta.get("max", len(value)):
            problems.append(f"{path}={value!r} length outside {meta.get('min')}..{meta.get('max')}")
    return problems


def assert_valid(model: Any, operation: str, request: dict[str, Any]) -> None:
    shape = model.operation_model(operation).input_shape
    validate_parameters(request, shape)
    assert constraint_violations(request, shape) == []


@pytest.fixture
def settings() -> Settings:
    return Settings(s3_bucket="dev-streamstack-media-123456789012")


@pytest.mark.parametrize("low_latency", [True, False], ids=["ll", "standard"])
def test_every_request_of_a_managed_live_stream_is_valid_for_the_service_models(settings: Settings, low_latency: bool):
    plan = plan_managed_live(settings, low_latency=low_latency)
    assert_valid(
        MEDIALIVE, "CreateInput", build_create_input(names=NAMES, stream_key="sk_secret", security_group_id="1234567")
    )
    assert_valid(
        MEDIALIVE, "CreateChannel", build_create_channel(names=NAMES, input_id="7654321", role_arn=ROLE, plan=plan)
    )
    assert_valid(MEDIALIVE, "CreateChannel", build_create_channel(names=NAMES, input_id="7654321", role_arn=ROLE,
                                                                  plan=plan, simulcast=TARGETS))  # fmt: skip
    for targets in (TARGETS, ()):
        assert_valid(MEDIALIVE, "UpdateChannel", build_update_channel(
            channel_id="1234", names=NAMES, input_id="7654321", role_arn=ROLE, plan=plan, simulcast=targets))
    assert_valid(MEDIAPACKAGE, "CreateChannel", build_create_mediapackage_channel(names=NAMES))
    endpoint = build_create_origin_endpoint(names=NAMES, plan=plan, session_seconds=12 * 3600)
    assert_valid(MEDIAPACKAGE, "CreateOriginEndpoint", endpoint)
    start = datetime(2030, 6, 1, 19, 30, tzinfo=UTC)
    harvest = build_create_harvest_job(names=NAMES, asset_id="as_01JD6Q9A", bucket=settings.s3_bucket,
                                       start=start, end=start + timedelta(hours=2))  # fmt: skip
    assert_valid(MEDIAPACKAGE, "CreateHarvestJob", harvest)
    for distribution in (DISTRIBUTION, None):
        policy = build_origin_endpoint_policy(names=NAMES, role_arn=ROLE, region="eu-west-1",
                                              distribution_arn=distribution)  # fmt: skip
        assert_valid(MEDIAPACKAGE, "PutOriginEndpointPolicy", policy)


ENDPOINT_ARN = ("arn:aws:mediapackagev2:eu-west-1:123456789012:channelGroup/dev-streamstack"
                "/channel/dev-streamstack-ls_01JD6Q8Z/originEndpoint/live")  # fmt: skip


def test_only_the_harvester_of_this_account_and_the_distribution_read_the_endpoint():
    """The harvester statement is the one AWS's "Origin endpoint authorization" page (MediaPackage L2V Harvester)
    requires for harvest jobs; CloudFront reads only as the deployment's distribution."""
    request = build_origin_endpoint_policy(names=NAMES, role_arn=ROLE, region="eu-west-1",
                                           distribution_arn=DISTRIBUTION)  # fmt: skip
    harvester, cloudfront = json.loads(request["Policy"])["Statement"]
    assert harvester["Principal"] == {"Service": "mediapackagev2.amazonaws.com"}
    assert set(harvester["Action"]) == {"mediapackagev2:HarvestObject", "mediapackagev2:GetObject"}
    assert harvester["Condition"] == {"StringEquals": {"AWS:SourceAccount": "123456789012"}}
    assert cloudfront["Principal"] == {"Service": "cloudfront.amazonaws.com"}
    assert cloudfront["Condition"] == {"StringEquals": {"AWS:SourceArn": DISTRIBUTION}}
    assert set(cloudfront["Action"]) == {"mediapackagev2:GetObject", "mediapackagev2:GetHeadObject"}
    assert harvester["Resource"] == cloudfront["Resource"] == ENDPOINT_ARN, "no wildcard: AWS refuses them here"
    alone = build_origin_endpoint_policy(names=NAMES, role_arn=ROLE, region="eu-west-1", distribution_arn=None)
    assert json.loads(alone["Policy"])["Statement"] == [harvester], "without a CDN, harvests still read it"


@pytest.mark.parametrize("ladder", [None, [{"name": "540p", "height": 540, "video_kbps": 2000},
                                           {"name": "234p", "height": 234, "video_kbps": 300}]],
                         ids=["default-ladder", "custom-ladder"])  # fmt: skip
def test_the_channel_encodes_the_live_ladder_plan(ladder: list[dict] | None):
    settings = Settings(live_ladder=ladder, keyframe_seconds=2.0)
    plan = plan_managed_live(settings)
    assert plan == plan_live(NOMINAL_CONTRIBUTION, settings, low_latency=True), "the ffmpeg encoder's own plan"
    request = build_create_channel(names=NAMES, input_id="7654321", role_arn=ROLE, plan=plan)
    encoder = request["EncoderSettings"]
    videos = encoder["VideoDescriptions"]
    assert [(v["Name"], v["Width"], v["Height"]) for v in videos] == [(r.name, r.width, r.height)
                                                                      for r in plan.renditions]  # fmt: skip
    for video, rendition in zip(videos, plan.renditions, strict=True):
        h264 = video["CodecSettings"]["H264Settings"]
        assert h264["MaxBitrate"] == rendition.maxrate and h264["RateControlMode"] == "QVBR"
        assert Fraction(h264["FramerateNumerator"], h264["FramerateDenominator"]) == rendition.frame_rate
        assert (h264["GopSize"], h264["GopSizeUnits"], h264["GopNumBFrames"]) == (2.0, "SECONDS", 0)
    (group,) = encoder["OutputGroups"]
    mediapackage = group["OutputGroupSettings"]["MediaPackageGroupSettings"]
    assert mediapackage["MediapackageV2GroupSettings"]["SegmentLength"] == 2
    (destination,) = request["Destinations"]
    assert mediapackage["Destination"]["DestinationRefId"] == destination["Id"]
    assert destination["MediaPackageSettings"] == [{"ChannelGroup": "dev-streamstack",
                                                    "ChannelName": "dev-streamstack-ls_01JD6Q8Z"}]  # fmt: skip
    outputs = {o["OutputName"]: o for o in group["Outputs"]}
    assert set(outputs) == {r.name for r in plan.renditions} | {"audio"}
    assert outputs["audio"]["AudioDescriptionNames"] == [encoder["AudioDescriptions"][0]["Name"]]
    selector = request["InputAttachments"][0]["InputSettings"]["AudioSelectors"][0]["Name"]
    assert encoder["AudioDescriptions"][0]["AudioSelectorName"] == selector
    assert request["Tags"] == {"streamstack:live_stream_id": "ls_01JD6Q8Z",
                               "streamstack:channel_group": "dev-streamstack"}  # fmt: skip


def test_simulcast_targets_are_rtmp_outputs_of_the_top_rung_and_the_audio():
    """Each target is one output of an RTMP output group with its own destination (MediaLive User Guide, "Organize
    encodes in an RTMP output group"), sharing the encodes the MediaPackage outputs make."""
    plan = plan_managed_live(Settings())
    request = build_create_channel(names=NAMES, input_id="7654321", role_arn=ROLE, plan=plan, simulcast=TARGETS)
    mediapackage, rtmp = request["EncoderSettings"]["OutputGroups"]
    assert "MediaPackageGroupSettings" in mediapackage["OutputGroupSettings"]
    assert rtmp["OutputGroupSettings"] == {"RtmpGroupSettings": {"InputLossAction": "PAUSE_OUTPUT"}}, "no slate"
    top = max(plan.renditions, key=lambda r: r.height)
    destinations = {d["Id"]: d for d in request["Destinations"]}
    sent = []
    for output in rtmp["Outputs"]:
        assert (output["VideoDescriptionName"], output["AudioDescriptionNames"]) == (top.name, ["audio"])
        settings = output["OutputSettings"]["RtmpOutputSettings"]
        assert settings["CertificateMode"] == "VERIFY_AUTHENTICITY"
        (where,) = destinations[settings["Destination"]["DestinationRefId"]]["Settings"]
        sent.append((where["Url"], where["StreamName"]))
    assert sent == [("rtmps://live-api-s.facebook.com:443/rtmp", "FB-key-1"),
                    ("rtmp://a.rtmp.youtube.com/live2", "yt-key-2")], "the key, or the URL's last segment"
    encodes = {v["Name"] for v in request["EncoderSettings"]["VideoDescriptions"]}
    assert encodes == {r.name for r in plan.renditions}, "no encode of its own"
    alone = build_create_channel(names=NAMES, input_id="7654321", role_arn=ROLE, plan=plan)
    assert len(alone["EncoderSettings"]["OutputGroups"]) == 1 and len(alone["Destinations"]) == 1
    update = build_update_channel(channel_id="1234", names=NAMES, input_id="7654321", role_arn=ROLE, plan=plan,
                                  simulcast=TARGETS[:1])  # fmt: skip
    assert {k: v for k, v in update.items() if k != "ChannelId"} == {
        k: v for k, v in build_create_channel(names=NAMES, input_id="7654321", role_arn=ROLE, plan=plan,
                                              simulcast=TARGETS[:1]).items()
        if k not in ("ChannelClass", "RequestId", "Tags")}, "the same definition, sent whole"  # fmt: skip


def test_the_input_takes_the_stream_key_as_its_stream_name_from_the_security_group():
    request = build_create_input(names=NAMES, stream_key="sk_secret", security_group_id="1234567")
    assert request["Type"] == "RTMP_PUSH" and request["InputSecurityGroups"] == ["1234567"]
    assert request["Destinations"] == [{"StreamName": "live/sk_secret"}]


def test_the_endpoint_keeps_the_dvr_window_for_harvests_and_serves_ll_hls():
    plan = plan_managed_live(Settings(live_dvr_window=600.0, keyframe_seconds=2.0))
    endpoint = build_create_origin_endpoint(names=NAMES, plan=plan, session_seconds=12 * 3600)
    assert endpoint["ContainerType"] == "CMAF" and endpoint["Segment"]["SegmentDurationSeconds"] == 2
    assert endpoint["StartoverWindowSeconds"] == 12 * 3600 + 3600, "a whole session, until its harvest runs"
    assert [m["ManifestName"] for m in endpoint["LowLatencyHlsManifests"]] == ["ll"]
    short = build_create_origin_endpoint(names=NAMES, plan=plan_managed_live(Settings(live_dvr_window=10.0)),
                                         session_seconds=300)
    assert short["LowLatencyHlsManifests"][0]["ManifestWindowSeconds"] == 30, "MediaPackage's minimum window"


def test_the_harvest_lands_under_the_recording_assets_prefix():
    start = datetime(2030, 6, 1, 19, 30, tzinfo=UTC)
    job = build_create_harvest_job(names=NAMES, asset_id="as_1", bucket="media", start=start,
                                   end=start + timedelta(minutes=90))  # fmt: skip
    assert job["Destination"] == {"S3Destination": {"BucketName": "media", "DestinationPath": "assets/as_1"}}
    assert job["HarvestJobName"] == "as_1"
    assert job["ClientToken"] == build_create_harvest_job(names=NAMES, asset_id="as_1", bucket="media", start=start,
                                                          end=start + timedelta(minutes=90))["ClientToken"]  # fmt: skip
    with pytest.raises(ValueError, match="ends after it starts"):
        build_create_harvest_job(names=NAMES, asset_id="as_1", bucket="media", start=start, end=start)


def test_tokens_make_retries_idempotent_and_differ_per_resource():
    assert NAMES.token("channel") == NAMES.token("channel") != NAMES.token("input")
    other = ManagedLiveNames(prefix="dev-streamstack", channel_group="dev-streamstack", live_stream_id="ls_2")
    assert other.token("channel") != NAMES.token("channel")


@pytest.mark.parametrize(
    ("level", "expected"),
    [("3.1", "H264_LEVEL_3_1"), ("4.0", "H264_LEVEL_4"), ("4.1", "H264_LEVEL_4_1"), ("3.0", "H264_LEVEL_3")],
)
def test_h264_levels(level: str, expected: str):
    assert h264_level(level) == expected
    assert expected in MEDIALIVE.shape_for("H264Level").enum


def test_a_request_the_model_refuses_is_caught_here():
    """The checker itself: a wrong enum and a bad name are reported, not passed."""
    request = build_create_mediapackage_channel(names=NAMES)
    request["InputType"] = "RTMP"
    request["ChannelName"] = "has space"
    problems = constraint_violations(request, MEDIAPACKAGE.operation_model("CreateChannel").input_shape)
    assert len(problems) == 2, problems


def test_submission_through_stubbed_clients_validates_each_call(settings: Settings):
    medialive = boto3.client("medialive", region_name="eu-west-1", aws_access_key_id="x", aws_secret_access_key="x")
    plan = plan_managed_live(settings)
    channel = build_create_channel(names=NAMES, input_id="7654321", role_arn=ROLE, plan=plan)
    with Stubber(medialive) as stub:
        created = {"Channel": {"Id": "1234", "Arn": "arn:aws:medialive:eu-west-1:123456789012:channel:1234"}}
        stub.add_response("create_channel", created, channel)
        assert medialive.create_channel(**channel)["Channel"]["Id"] == "1234"
        stub.assert_no_pending_responses()
