"""MediaConvert CreateJob requests, validated against botocore's MediaConvert service model."""

from __future__ import annotations

from fractions import Fraction
from typing import Any

import boto3
import botocore.session
import pytest
from botocore.model import Shape
from botocore.stub import Stubber
from botocore.validate import validate_parameters

from streamstack.media.encoder import MediaConvertEncoder
from streamstack.media.ladder import plan_audio, plan_ladder
from streamstack.media.mediaconvert import (
    MediaConvertNotConfigured,
    build_create_job,
    codec_level,
    plan_job,
)
from streamstack.media.probe import Probe
from streamstack.settings import Settings

ROLE = "arn:aws:iam::123456789012:role/streamstack-mediaconvert"
MODEL = botocore.session.get_session().get_service_model("mediaconvert")
CREATE_JOB = MODEL.operation_model("CreateJob").input_shape


def source(width: int = 1920, height: int = 1080, *, audio: bool = True, fps: float = 29.97) -> Probe:
    return Probe(format_name="mov,mp4,m4a,3gp,3g2,mj2", duration=12.0, bitrate=8_000_000, has_video=True,
                 has_audio=audio, width=width, height=height, frame_rate=fps, video_codec="h264",
                 audio_codec="aac" if audio else None, audio_channels=2 if audio else 0)


@pytest.fixture
def settings() -> Settings:
    return Settings(s3_bucket="media-bucket", mediaconvert_role_arn=ROLE, segment_seconds=4.0)


def enum_violations(value: Any, shape: Shape, path: str = "") -> list[str]:
    """botocore's validator checks types, ranges and required members, not enums: walk them here."""
    if shape.type_name == "structure":
        return [v for key, item in value.items() for v in enum_violations(item, shape.members[key], f"{path}.{key}")]
    if shape.type_name == "list":
        return [v for i, item in enumerate(value) for v in enum_violations(item, shape.member, f"{path}[{i}]")]
    if shape.type_name == "map":
        return [v for key, item in value.items() for v in enum_violations(item, shape.value, f"{path}.{key}")]
    enum = getattr(shape, "enum", None)
    return [f"{path}={value!r} not in {enum}"] if enum and value not in enum else []


def assert_valid(request: dict[str, Any]) -> None:
    validate_parameters(request, CREATE_JOB)
    assert enum_violations(request, CREATE_JOB) == []


def test_the_job_is_valid_for_the_service_model(settings: Settings):
    assert_valid(plan_job("as_1", source(), settings, source_key="sources/as_1"))


def test_the_job_follows_the_ladder_with_qvbr_hls_and_the_asset_id(settings: Settings):
    probe = source()
    request = plan_job("as_1", probe, settings, source_key="sources/as_1")
    (group,) = request["Settings"]["OutputGroups"]
    hls = group["OutputGroupSettings"]
    assert hls["Type"] == "HLS_GROUP_SETTINGS"
    assert hls["HlsGroupSettings"]["Destination"] == "s3://media-bucket/assets/as_1/master"
    assert hls["HlsGroupSettings"]["SegmentLength"] == 4
    plans = plan_ladder(probe, settings)
    videos = [o for o in group["Outputs"] if "VideoDescription" in o]
    assert [(o["VideoDescription"]["Width"], o["VideoDescription"]["Height"]) for o in videos] == [
        (p.width, p.height) for p in plans]
    for output, plan in zip(videos, plans, strict=True):
        h264 = output["VideoDescription"]["CodecSettings"]["H264Settings"]
        assert h264["RateControlMode"] == "QVBR" and h264["MaxBitrate"] == plan.maxrate
        assert Fraction(h264["FramerateNumerator"], h264["FramerateDenominator"]) == plan.frame_rate
        assert h264["GopSize"] == plan.gop_frames and h264["GopClosedCadence"] == 1
        assert output["ContainerSettings"]["CmfcSettings"]["AudioRenditionSets"] == "audio"
    assert sum("AudioDescriptions" in o for o in group["Outputs"]) == 1
    assert request["UserMetadata"] == {"asset_id": "as_1", "bucket": "media-bucket"}  # the deployment's own jobs
    assert request["Role"] == ROLE
    assert request["Settings"]["Inputs"][0]["FileInput"] == "s3://media-bucket/sources/as_1"


@pytest.mark.parametrize("probe", [source(320, 180, audio=False), source(1080, 1920, fps=59.94),
                                   source(3840, 2160, fps=25)], ids=["tiny-silent", "portrait-60", "uhd-25"])
def test_every_kind_of_source_gives_a_valid_job(settings: Settings, probe: Probe):
    request = build_create_job(asset_id="as_2", source_key="sources/as_2", bucket="b",
                               renditions=plan_ladder(probe, settings),
                               audio=plan_audio(probe), settings=settings, role_arn=ROLE)
    assert_valid(request)
    outputs = request["Settings"]["OutputGroups"][0]["Outputs"]
    if not probe.has_audio:
        assert all("AudioDescriptions" not in o for o in outputs)
        assert "AudioSelectors" not in request["Settings"]["Inputs"][0]


def test_submit_through_a_stubbed_client_validates_the_call(settings: Settings):
    mc = boto3.client("mediaconvert", region_name="us-east-1", endpoint_url="https://mc.example.com",
                      aws_access_key_id="x", aws_secret_access_key="x")
    request = plan_job("as_3", source(), settings, source_key="sources/as_3")
    with Stubber(mc) as stub:
        stub.add_response("create_job", {"Job": {"Id": "1700000000000-abc123", "Role": ROLE,
                                                 "Settings": request["Settings"]}}, request)
        encoder = MediaConvertEncoder(settings=settings, store=None, mediaconvert_client=mc)  # type: ignore[arg-type]
        assert encoder.submit(request) == "1700000000000-abc123"
        stub.assert_no_pending_responses()


def test_a_job_without_a_role_is_refused_before_any_call():
    with pytest.raises(MediaConvertNotConfigured):
        plan_job("as_4", source(), Settings(mediaconvert_role_arn=None), source_key="sources/as_4")


@pytest.mark.parametrize(("level", "expected"), [("3.0", "LEVEL_3"), ("3.1", "LEVEL_3_1"), ("4.0", "LEVEL_4"),
                                                 ("5.2", "LEVEL_5_2"), ("1.0", "LEVEL_1")])
def test_codec_levels(level: str, expected: str):
    assert codec_level(level) == expected


def test_a_source_beyond_a_cap_is_refused_before_a_job_is_submitted(tmp_path, clip):
    from streamstack.media.errors import ProbeError
    from streamstack.storage.local import LocalObjectStore

    store = LocalObjectStore(tmp_path / "objects")
    store.put("sources/as_1", [clip.read_bytes()])
    capped = Settings(mediaconvert_role_arn="arn:aws:iam::123456789012:role/mc", max_source_dimension=256)
    encoder = MediaConvertEncoder(settings=capped, store=store, mediaconvert_client=object())
    with pytest.raises(ProbeError, match="320x180; the longest side may be at most 256 pixels"):
        encoder.probe_source("sources/as_1")
    assert MediaConvertEncoder(settings=Settings(), store=store).probe_source("sources/as_1").width == 320
