"""The MediaConvert encoder: the same ladder as the ffmpeg workers, as a CreateJob request.

Planning stays in `plan_ladder`; this module only translates plans into MediaConvert settings (one
HLS output group of fMP4/CMAF renditions with QVBR rate control and an AAC audio group) and submits
the job. The job's `UserMetadata.asset_id` comes back in the EventBridge Job State Change event, which
the metadata processor handles exactly as it handles the ffmpeg workers' events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from streamstack.assets import service as assets
from streamstack.assets.models import Asset
from streamstack.aws import client
from streamstack.db.base import utcnow
from streamstack.db.session import session_scope
from streamstack.media.hls import AUDIO_GROUP, AUDIO_NAME, MASTER_NAME
from streamstack.media.ladder import AudioPlan, RenditionPlan, plan_audio, plan_ladder
from streamstack.media.pipeline import asset_prefix, download_source
from streamstack.media.probe import Probe, probe
from streamstack.media.safety import job_directory
from streamstack.platform import Platform
from streamstack.settings import Settings

AUDIO_SELECTOR = "Audio Selector 1"
QVBR_QUALITY_LEVEL = 7  # AWS's suggested starting point for QVBR; MaxBitrate caps the peaks
STATUS_UPDATE_INTERVAL = "SECONDS_10"


class MediaConvertNotConfigured(RuntimeError):
    """encoder=mediaconvert needs mediaconvert_role_arn (and, in most accounts, the endpoint URL)."""


def codec_level(level: str) -> str:
    """The H.264 level as MediaConvert spells it: '3.1' -> 'LEVEL_3_1', '4.0' -> 'LEVEL_4'."""
    major, _, minor = level.partition(".")
    return f"LEVEL_{major}" if minor in ("", "0") else f"LEVEL_{major}_{minor}"


def h264_settings(plan: RenditionPlan, settings: Any) -> dict[str, Any]:
    """QVBR capped at the plan's maxrate; fixed, closed GOPs aligned across renditions, as the ffmpeg encoder does."""
    return {
        "RateControlMode": "QVBR",
        "QvbrSettings": {"QvbrQualityLevel": QVBR_QUALITY_LEVEL},
        "MaxBitrate": plan.maxrate,
        "HrdBufferSize": plan.bufsize,
        "CodecProfile": plan.profile.upper(),
        "CodecLevel": codec_level(plan.level),
        "FramerateControl": "SPECIFIED",
        "FramerateNumerator": plan.frame_rate.numerator,
        "FramerateDenominator": plan.frame_rate.denominator,
        "FramerateConversionAlgorithm": "DUPLICATE_DROP",
        "GopSize": float(plan.gop_frames),
        "GopSizeUnits": "FRAMES",
        "GopClosedCadence": 1,
        "SceneChangeDetect": "DISABLED",
        "NumberBFramesBetweenReferenceFrames": 2,
        "InterlaceMode": "PROGRESSIVE",
        "ParControl": "SPECIFIED",
        "ParNumerator": 1,
        "ParDenominator": 1,
        "QualityTuningLevel": "SINGLE_PASS_HQ",
    }


def video_output(plan: RenditionPlan, settings: Any, *, has_audio: bool) -> dict[str, Any]:
    """One video rendition in the HLS group; its playlist is `master_<name>.m3u8`."""
    cmfc: dict[str, Any] = {"AudioRenditionSets": AUDIO_GROUP} if has_audio else {}
    return {
        "NameModifier": f"_{plan.name}",
        "ContainerSettings": {"Container": "CMFC", "CmfcSettings": cmfc},
        "VideoDescription": {
            "Width": plan.width,
            "Height": plan.height,
            "ScalingBehavior": "DEFAULT",
            "CodecSettings": {"Codec": "H_264", "H264Settings": h264_settings(plan, settings)},
        },
    }


def audio_output(audio: AudioPlan) -> dict[str, Any]:
    """The shared AAC-LC stereo rendition, referenced by every video rendition through its audio group."""
    return {
        "NameModifier": f"_{AUDIO_NAME}",
        "ContainerSettings": {
            "Container": "CMFC",
            "CmfcSettings": {"AudioGroupId": AUDIO_GROUP, "AudioTrackType": "ALTERNATE_AUDIO_AUTO_SELECT_DEFAULT"},
        },
        "AudioDescriptions": [{
            "AudioSourceName": AUDIO_SELECTOR,
            "CodecSettings": {
                "Codec": "AAC",
                "AacSettings": {
                    "Bitrate": audio.bitrate,
                    "CodingMode": "CODING_MODE_2_0",
                    "SampleRate": audio.sample_rate,
                    "CodecProfile": "LC",
                    "RateControlMode": "CBR",
                },
            },
        }],
    }


def hls_group(destination: str, settings: Any, outputs: list[dict[str, Any]]) -> dict[str, Any]:
    """The HLS output group: segment length and naming as the ffmpeg encoder writes them."""
    return {
        "Name": "HLS",
        "OutputGroupSettings": {
            "Type": "HLS_GROUP_SETTINGS",
            "HlsGroupSettings": {
                "Destination": destination,
                "SegmentLength": max(1, round(settings.segment_seconds)),
                "SegmentLengthControl": "GOP_MULTIPLE",
                "MinSegmentLength": 0,
                "SegmentControl": "SEGMENTED_FILES",
                "DirectoryStructure": "SINGLE_DIRECTORY",
                "OutputSelection": "MANIFESTS_AND_SEGMENTS",
                "ManifestDurationFormat": "FLOATING_POINT",
                "CodecSpecification": "RFC_6381",
                "StreamInfResolution": "INCLUDE",
                "ProgramDateTime": "EXCLUDE",
                "ClientCache": "ENABLED",
                "CaptionLanguageSetting": "OMIT",
                "ManifestCompression": "NONE",
                "TargetDurationCompatibilityMode": "SPEC_COMPLIANT",
            },
        },
        "Outputs": outputs,
    }


def build_create_job(
    *,
    asset_id: str,
    bucket: str,
    renditions: Sequence[RenditionPlan],
    audio: AudioPlan | None,
    settings: Any,
    role_arn: str,
    client_request_token: str | None = None,
) -> dict[str, Any]:
    """The CreateJob request for one asset: source `sources/<id>`, outputs under `assets/<id>/`."""
    if not renditions:
        raise ValueError("a MediaConvert job needs at least one video rendition")
    outputs = [video_output(plan, settings, has_audio=audio is not None) for plan in renditions]
    if audio is not None:
        outputs.append(audio_output(audio))
    master = MASTER_NAME.removesuffix(".m3u8")
    source_input: dict[str, Any] = {
        "FileInput": f"s3://{bucket}/{assets.source_key(asset_id)}",
        "TimecodeSource": "ZEROBASED",
        "VideoSelector": {},
    }
    if audio is not None:
        source_input["AudioSelectors"] = {AUDIO_SELECTOR: {"DefaultSelection": "DEFAULT"}}
    request: dict[str, Any] = {
        "Role": role_arn,
        "UserMetadata": {"asset_id": asset_id},
        "StatusUpdateInterval": STATUS_UPDATE_INTERVAL,
        "Settings": {
            "TimecodeConfig": {"Source": "ZEROBASED"},
            "Inputs": [source_input],
            "OutputGroups": [hls_group(f"s3://{bucket}/{asset_prefix(asset_id)}{master}", settings, outputs)],
        },
    }
    if client_request_token:
        request["ClientRequestToken"] = client_request_token
    return request


def plan_job(asset_id: str, source: Probe, settings: Settings) -> dict[str, Any]:
    """Plan the ladder for a probed source and build its CreateJob request."""
    if not settings.mediaconvert_role_arn:
        raise MediaConvertNotConfigured("set STREAMSTACK_MEDIACONVERT_ROLE_ARN to use encoder=mediaconvert")
    token = hashlib.sha256(f"{asset_id}:{source.duration}:{source.bitrate}".encode()).hexdigest()[:64]
    return build_create_job(
        asset_id=asset_id, bucket=settings.s3_bucket, renditions=plan_ladder(source, settings),
        audio=plan_audio(source), settings=settings, role_arn=settings.mediaconvert_role_arn,
        client_request_token=token,
    )


def submit_job(mediaconvert_client: Any, request: dict[str, Any]) -> str:
    """CreateJob; returns the job id MediaConvert assigned."""
    return str(mediaconvert_client.create_job(**request)["Job"]["Id"])


def mediaconvert_client(settings: Settings) -> Any:
    """MediaConvert at the account endpoint from settings (regional endpoints also accept CreateJob)."""
    return client("mediaconvert", settings, endpoint_url=settings.mediaconvert_endpoint_url)


def probe_source(platform: Platform, asset_id: str) -> Probe:
    """Download the source to a job directory (Lambda: /tmp) and probe it with the bundled ffmpeg."""
    with job_directory(prefix="streamstack-probe-") as workdir:
        path = download_source(platform.store, assets.source_key(asset_id), Path(workdir) / "source",
                               platform.settings)
        return probe(path)


def start_mediaconvert_job(platform: Platform, *, asset_id: str, mc_client: Any = None) -> str | None:
    """Probe, plan, submit, and record the job id so the job's events are recognised as current."""
    with session_scope(platform.sessions) as db_session:
        asset = db_session.get(Asset, asset_id)
        if asset is None or asset.status in ("ready", "errored"):
            return None
    request = plan_job(asset_id, probe_source(platform, asset_id), platform.settings)
    job_id = submit_job(mc_client or mediaconvert_client(platform.settings), request)
    with session_scope(platform.sessions) as db_session:
        asset = db_session.get(Asset, asset_id)
        if asset is not None:
            asset.job_id, asset.encoding_started_at, asset.status = job_id, utcnow(), "preparing"
    return job_id
