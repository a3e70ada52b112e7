"""The encoder's end-of-job events are MediaConvert Job State Change JSON, and only that."""

from __future__ import annotations

import re

import pytest

from streamstack.events.messages import message_kind
from streamstack.media.errors import MediaError, ProbeError
from streamstack.media.job_events import EncodeJob, job_complete_event, job_error_event, new_job_id
from streamstack.media.options import EncodeOptions
from streamstack.media.pipeline import AudioResult, EncodeResult, RenditionResult
from streamstack.settings import Settings

SETTINGS = Settings(s3_bucket="media-bucket", aws_region="eu-west-1")
JOB = EncodeJob(asset_id="as_1", job_id="1536964333549-opn151", source_key="sources/as_1",
                options=EncodeOptions(mp4_support="standard"))
ENVELOPE_KEYS = {"version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"}
DOCUMENTED_OUTPUT_KEYS = {"outputFilePaths", "durationInMs", "videoDetails"}


def rendition(name: str, width: int, height: int) -> RenditionResult:
    return RenditionResult(name=name, width=width, height=height, frame_rate=25.0, bitrate=900_000,
                           average_bitrate=700_000, codecs="avc1.64001f", playlist_key=f"assets/as_1/{name}.m3u8",
                           size_bytes=123_456)


def result(**overrides: object) -> EncodeResult:
    values: dict[str, object] = dict(
        asset_id="as_1", master_key="assets/as_1/master.m3u8", duration=2.0, source=None,
        renditions=(rendition("360p", 640, 360), rendition("240p", 426, 240)),
        audio=AudioResult(codecs="mp4a.40.2", channels=2, sample_rate=48000, bitrate=130_000,
                          average_bitrate=128_000, playlist_key="assets/as_1/audio.m3u8", size_bytes=32_000),
        images=None, static_mp4_key="assets/as_1/high.mp4", static_mp4_size=150_000, playable_seconds=0.5,
        encode_seconds=1.5,
    )
    values.update(overrides)
    return EncodeResult(**values)  # type: ignore[arg-type]


def test_complete_event_is_shaped_like_mediaconvert_with_our_asset_in_user_metadata():
    event = job_complete_event(SETTINGS, JOB, result())
    assert set(event) == ENVELOPE_KEYS
    assert message_kind(event) == "mediaconvert"
    assert event["source"] == "aws.mediaconvert" and event["region"] == "eu-west-1"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", event["time"])
    assert event["resources"] == [f"arn:aws:mediaconvert:eu-west-1:000000000000:jobs/{JOB.job_id}"]
    detail = event["detail"]
    assert detail["status"] == "COMPLETE"
    assert detail["jobId"] == JOB.job_id and detail["accountId"] == "000000000000"
    assert detail["queue"] == "arn:aws:mediaconvert:eu-west-1:000000000000:queues/Default"
    assert isinstance(detail["timestamp"], int)
    assert detail["userMetadata"] == {"asset_id": "as_1"}


def test_hls_group_lists_master_and_every_output_with_duration_and_dimensions_only():
    hls, file_group = job_complete_event(SETTINGS, JOB, result())["detail"]["outputGroupDetails"]
    assert hls["type"] == "HLS_GROUP"
    assert hls["playlistFilePaths"] == ["s3://media-bucket/assets/as_1/master.m3u8"]
    videos, audio = hls["outputDetails"][:2], hls["outputDetails"][2]
    assert [o["outputFilePaths"] for o in videos] == [["s3://media-bucket/assets/as_1/360p.m3u8"],
                                                       ["s3://media-bucket/assets/as_1/240p.m3u8"]]
    assert [o["videoDetails"] for o in videos] == [{"widthInPx": 640, "heightInPx": 360},
                                                   {"widthInPx": 426, "heightInPx": 240}]
    assert audio == {"outputFilePaths": ["s3://media-bucket/assets/as_1/audio.m3u8"], "durationInMs": 2000}
    for output in [*hls["outputDetails"], *file_group["outputDetails"]]:
        assert set(output) <= DOCUMENTED_OUTPUT_KEYS
        assert output["durationInMs"] == 2000
    assert file_group == {"type": "FILE_GROUP", "outputDetails": [{
        "outputFilePaths": ["s3://media-bucket/assets/as_1/high.mp4"], "durationInMs": 2000,
        "videoDetails": {"widthInPx": 640, "heightInPx": 360}}]}


def test_without_static_mp4_or_audio_there_is_only_the_video_hls_group():
    groups = job_complete_event(SETTINGS, JOB, result(static_mp4_key=None, audio=None))[
        "detail"]["outputGroupDetails"]
    assert [g["type"] for g in groups] == ["HLS_GROUP"]
    assert len(groups[0]["outputDetails"]) == 2


@pytest.mark.parametrize("error, code", [
    (ProbeError("not_media", "The file is text, not audio or video."), 1010),
    (MediaError("truncated_file", "The file's media stops at 1.0 s although it declares 9.0 s."), 1010),
    (MediaError("timeout", "The job ran out of its wall-clock limit."), 1999),
])
def test_error_event_carries_mediaconverts_numeric_code_and_the_precise_message(error, code):
    detail = job_error_event(SETTINGS, JOB, error)["detail"]
    assert detail["status"] == "ERROR"
    assert detail["errorCode"] == code
    assert detail["errorMessage"] == error.message
    assert detail["userMetadata"] == {"asset_id": "as_1"}
    assert "outputGroupDetails" not in detail


def test_job_ids_look_like_mediaconverts_and_differ_per_attempt():
    ids = {new_job_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"\d{13}-[a-z0-9]{6}", job_id) for job_id in ids)
