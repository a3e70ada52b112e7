"""The ladder as a MediaConvert CreateJob request: pure translation, no I/O (submission is `MediaConvertEncoder`).

Planning stays in `plan_ladder`; this module only translates plans into MediaConvert settings (one
HLS output group of fMP4/CMAF renditions with QVBR rate control and an AAC audio group). The job's
`UserMetadata.asset_id` comes back in the EventBridge Job State Change event, which the metadata
processor handles exactly as it handles the ffmpeg workers' events.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from streamstack.media.hls import AUDIO_GROUP, AUDIO_NAME
from streamstack.media.ladder import AudioPlan, RenditionPlan, plan_audio, plan_ladder
from streamstack.media.loudness import LoudnessPlan
from streamstack.media.options import EncodeOptions
from streamstack.media.probe import Probe
from streamstack.settings import Settings
from streamstack.storage.keys import MASTER_NAME, asset_prefix

AUDIO_SELECTOR = "Audio Selector 1"
QVBR_QUALITY_LEVEL = 7  # AWS's suggested starting point for QVBR; MaxBitrate caps the peaks
STATUS_UPDATE_INTERVAL = "SECONDS_10"


class MediaConvertNotConfigured(RuntimeError):
    """encoder=mediaconvert needs mediaconvert_role_arn (and, in most accounts, the endpoint URL)."""


def codec_level(level: str) -> str:
    """The H.264 level as MediaConvert spells it: '3.1' -> 'LEVEL_3_1', '4.0' -> 'LEVEL_4'."""
    major, _, minor = level.partition(".")
    return f"LEVEL_{major}" if minor in ("", "0") else f"LEVEL_{major}_{minor}"


def qvbr_quality_level(target_vmaf: float) -> int:
    """The auto ladder's VMAF target as a QVBR level (1-10): level 7, AWS's usual choice, ~ VMAF 93; 4 a level."""
    return max(1, min(10, round((target_vmaf - 65.0) / 4.0)))


def h264_settings(plan: RenditionPlan, settings: Any, quality_level: int = QVBR_QUALITY_LEVEL) -> dict[str, Any]:
    """QVBR capped at the plan's maxrate; fixed, closed GOPs aligned across renditions, as the ffmpeg encoder does."""
    return {
        "RateControlMode": "QVBR",
        "QvbrSettings": {"QvbrQualityLevel": quality_level},
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


def video_output(plan: RenditionPlan, settings: Any, *, has_audio: bool,
                 quality_level: int = QVBR_QUALITY_LEVEL) -> dict[str, Any]:
    """One video rendition in the HLS group; its playlist is `master_<name>.m3u8`."""
    cmfc: dict[str, Any] = {"AudioRenditionSets": AUDIO_GROUP} if has_audio else {}
    return {
        "NameModifier": f"_{plan.name}",
        "ContainerSettings": {"Container": "CMFC", "CmfcSettings": cmfc},
        "VideoDescription": {
            "Width": plan.width,
            "Height": plan.height,
            "ScalingBehavior": "DEFAULT",
            "CodecSettings": {"Codec": "H_264", "H264Settings": h264_settings(plan, settings, quality_level)},
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
            **loudness_settings(audio),
        }],
    }


def loudness_settings(audio: AudioPlan) -> dict[str, Any]:
    """The same EBU R128 decision as loudnorm: MediaConvert's BS.1770 correction to the target and peak."""
    if audio.loudness is None:
        return {}
    return {"AudioNormalizationSettings": {
        "Algorithm": "ITU_BS_1770_3",
        "AlgorithmControl": "CORRECT_AUDIO",
        "TargetLkfs": audio.loudness.target_lufs,
        "PeakCalculation": "TRUE_PEAK",
        "TruePeakLimiterThreshold": audio.loudness.true_peak_dbtp,
    }}


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
    source_key: str,
    bucket: str,
    renditions: Sequence[RenditionPlan],
    audio: AudioPlan | None,
    settings: Any,
    role_arn: str,
    client_request_token: str | None = None,
    quality_level: int = QVBR_QUALITY_LEVEL,
) -> dict[str, Any]:
    """The CreateJob request for one asset: the source object in, outputs under the asset's prefix."""
    if not renditions:
        raise ValueError("a MediaConvert job needs at least one video rendition")
    outputs = [video_output(plan, settings, has_audio=audio is not None, quality_level=quality_level)
               for plan in renditions]
    if audio is not None:
        outputs.append(audio_output(audio))
    master = MASTER_NAME.removesuffix(".m3u8")
    source_input: dict[str, Any] = {
        "FileInput": f"s3://{bucket}/{source_key}",
        "TimecodeSource": "ZEROBASED",
        "VideoSelector": {},
    }
    if audio is not None:
        source_input["AudioSelectors"] = {AUDIO_SELECTOR: {"DefaultSelection": "DEFAULT"}}
    request: dict[str, Any] = {
        "Role": role_arn,
        # The bucket names the deployment: its EventBridge rule takes only its own jobs' state changes.
        "UserMetadata": {"asset_id": asset_id, "bucket": bucket},
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


def plan_mediaconvert_audio(source: Probe, settings: Settings, options: EncodeOptions) -> AudioPlan | None:
    """The AAC rendition, with the loudness target when the asset asks for normalisation."""
    audio = plan_audio(source)
    if audio is None or not options.normalize_audio:
        return audio
    return replace(audio, loudness=LoudnessPlan(settings.loudness_target_lufs, settings.loudness_true_peak_dbtp))


def plan_job(asset_id: str, source: Probe, settings: Settings, *, source_key: str,
             options: EncodeOptions = EncodeOptions()) -> dict[str, Any]:
    """Plan the ladder for a probed source and build its CreateJob request."""
    if not settings.mediaconvert_role_arn:
        raise MediaConvertNotConfigured("set STREAMSTACK_MEDIACONVERT_ROLE_ARN to use encoder=mediaconvert")
    token = hashlib.sha256(f"{asset_id}:{source.duration}:{source.bitrate}".encode()).hexdigest()[:64]
    return build_create_job(
        asset_id=asset_id, source_key=source_key, bucket=settings.s3_bucket, renditions=plan_ladder(source, settings),
        audio=plan_mediaconvert_audio(source, settings, options), settings=settings,
        role_arn=settings.mediaconvert_role_arn, client_request_token=token,
        quality_level=qvbr_quality_level(settings.auto_ladder_target_vmaf) if options.ladder == "auto"
        else QVBR_QUALITY_LEVEL,
    )
