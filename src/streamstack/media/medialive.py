"""The live ladder as MediaLive and MediaPackage v2 requests: pure translation, no I/O (sent by media/managed_live.py).

`live_encoder = "medialive"` is to live what `encoder = "mediaconvert"` is to VOD. A MediaLive channel is
created before any publisher connects, so its ladder is planned against a nominal contribution
(`NOMINAL_CONTRIBUTION`, 1080p30) by the same `plan_live` as the ffmpeg encoder's; MediaLive scales what
arrives to every rung. The channel pushes CMAF to a MediaPackage v2 channel named after the live stream,
whose origin endpoint serves LL-HLS and standard HLS; a harvest job copies a window of it to S3 (live-to-VOD).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from streamstack.media.ladder import AudioPlan, RenditionPlan
from streamstack.media.live import LiveEncodePlan, plan_live
from streamstack.media.probe import Probe
from streamstack.storage.keys import MASTER_NAME, asset_prefix

NOMINAL_CONTRIBUTION = Probe(format_name="flv", duration=0.0, bitrate=8_000_000, has_video=True, has_audio=True,
                             width=1920, height=1080, frame_rate=30.0, video_codec="h264", audio_codec="aac",
                             audio_channels=2)  # fmt: skip
RTMP_APPLICATION = "live"
MEDIAPACKAGE_DESTINATION = "mediapackage"
SIMULCAST_GROUP = "simulcast"
RTMP_RETRY_SECONDS = 2  # a simulcast destination that drops is dialled again this often,
RTMP_RETRIES = 30  # this many times (a minute) before MediaLive gives it up until the next start
AUDIO_SELECTOR = "default"
AUDIO_DESCRIPTION = "audio"
QVBR_QUALITY_LEVEL = 7
ENDPOINT_NAME = "live"
LOW_LATENCY_MANIFEST = "ll"
STANDARD_MANIFEST = MASTER_NAME.removesuffix(".m3u8")  # a harvest writes it as the recording's master
MIN_MANIFEST_WINDOW = 30  # MediaPackage v2's smallest manifest window
MAX_STARTOVER_WINDOW = 14 * 24 * 3600  # MediaPackage v2's largest startover window
HARVEST_MARGIN_SECONDS = 3600  # a session's harvest may start this long after it ends (event delivery, retries)
TAG_LIVE_STREAM = "streamstack:live_stream_id"
TAG_CHANNEL_GROUP = "streamstack:channel_group"  # the deployment: the app's IAM grants are conditioned on it


@dataclass(frozen=True)
class SimulcastDestination:
    """Where one simulcast target's RTMP output pushes: the server URL and the stream name (its key)."""

    target_id: str
    url: str
    stream_name: str

    @classmethod
    def of(cls, target_id: str, url: str, stream_key: str | None) -> SimulcastDestination:
        """The key is the stream name; without one, the URL's last segment is (as OBS reads a full URL)."""
        server = url.strip().rstrip("/")
        if stream_key:
            return cls(target_id, server, stream_key)
        server, _, name = server.rpartition("/")
        return cls(target_id, server, name)

    @property
    def destination_id(self) -> str:
        return f"{SIMULCAST_GROUP}-{self.target_id}"


@dataclass(frozen=True)
class ManagedLiveNames:
    """Where one live stream lives in MediaLive and MediaPackage v2: every name derives from its id."""

    prefix: str
    channel_group: str
    live_stream_id: str

    @property
    def input(self) -> str:
        return f"{self.prefix}-{self.live_stream_id}"

    @property
    def channel(self) -> str:
        """The MediaLive channel and the MediaPackage channel share it; events resolve the stream from it."""
        return f"{self.prefix}-{self.live_stream_id}"

    @property
    def endpoint(self) -> str:
        return ENDPOINT_NAME

    @property
    def tags(self) -> dict[str, str]:
        """On every resource: the stream it serves, and the deployment (channel group) that may manage it."""
        return {TAG_LIVE_STREAM: self.live_stream_id, TAG_CHANNEL_GROUP: self.channel_group}

    @property
    def endpoint_prefix(self) -> str:
        """Where the endpoint's manifests and segments are on the egress domain (CloudFront's /out/v1/*)."""
        return f"/out/v1/{self.channel_group}/{self.channel}/{self.endpoint}/"

    def manifest_path(self, *, low_latency: bool) -> str:
        return f"{self.endpoint_prefix}{LOW_LATENCY_MANIFEST if low_latency else STANDARD_MANIFEST}.m3u8"

    def token(self, what: str, *extra: str) -> str:
        """A stable idempotency token: retrying a request never creates a second resource."""
        return hashlib.sha256(":".join((self.channel, what, *extra)).encode()).hexdigest()[:64]


def plan_managed_live(settings: Any, *, low_latency: bool = True) -> LiveEncodePlan:
    """The live ladder the channel encodes, planned as the ffmpeg encoder plans it for a 1080p30 input."""
    return plan_live(NOMINAL_CONTRIBUTION, settings, low_latency=low_latency)


def h264_level(level: str) -> str:
    """'4.1' -> 'H264_LEVEL_4_1', '4.0' -> 'H264_LEVEL_4' (MediaLive's spelling)."""
    major, _, minor = level.partition(".")
    return f"H264_LEVEL_{major}" if minor in ("", "0") else f"H264_LEVEL_{major}_{minor}"


def video_description(rendition: RenditionPlan, plan: LiveEncodePlan) -> dict[str, Any]:
    """One rung: QVBR capped at the plan's maxrate, closed GOPs of the segment length, aligned across rungs."""
    rate: Fraction = rendition.frame_rate
    return {
        "Name": rendition.name,
        "Width": rendition.width,
        "Height": rendition.height,
        "ScalingBehavior": "DEFAULT",
        "RespondToAfd": "NONE",
        "CodecSettings": {"H264Settings": {
            "RateControlMode": "QVBR",
            "QvbrQualityLevel": QVBR_QUALITY_LEVEL,
            "MaxBitrate": rendition.maxrate,
            "BufSize": rendition.bufsize,
            "Profile": rendition.profile.upper(),
            "Level": h264_level(rendition.level),
            "FramerateControl": "SPECIFIED",
            "FramerateNumerator": rate.numerator,
            "FramerateDenominator": rate.denominator,
            "GopSize": float(plan.packaging.segment_target),
            "GopSizeUnits": "SECONDS",
            "GopClosedCadence": 1,
            # No B-frames at low latency, as the ffmpeg encoder's -tune zerolatency.
            "GopNumBFrames": 0 if plan.low_latency else 2,
            "SubgopLength": "FIXED",
            "SceneChangeDetect": "DISABLED",
            "ScanType": "PROGRESSIVE",
            "ParControl": "SPECIFIED",
            "ParNumerator": 1,
            "ParDenominator": 1,
            "AdaptiveQuantization": "AUTO",
            "LookAheadRateControl": "LOW" if plan.low_latency else "MEDIUM",
        }},
    }  # fmt: skip


def audio_description(audio: AudioPlan) -> dict[str, Any]:
    """The AAC-LC stereo rendition every video rung is grouped with."""
    return {
        "Name": AUDIO_DESCRIPTION,
        "AudioSelectorName": AUDIO_SELECTOR,
        "AudioTypeControl": "FOLLOW_INPUT",
        "LanguageCodeControl": "FOLLOW_INPUT",
        "CodecSettings": {"AacSettings": {
            "Bitrate": float(audio.bitrate),
            "CodingMode": "CODING_MODE_2_0",
            "SampleRate": float(audio.sample_rate),
            "Profile": "LC",
            "RateControlMode": "CBR",
            "RawFormat": "NONE",
            "Spec": "MPEG4",
            "InputType": "NORMAL",
        }},
    }  # fmt: skip


def mediapackage_output_group(plan: LiveEncodePlan) -> dict[str, Any]:
    """CMAF to MediaPackage v2: one output per rung, the audio as its own output, segments of the plan's length."""
    outputs: list[dict[str, Any]] = [
        {"OutputName": r.name, "VideoDescriptionName": r.name, "OutputSettings": {"MediaPackageOutputSettings": {}}}
        for r in plan.renditions
    ]
    if plan.audio is not None:
        outputs.append({"OutputName": AUDIO_DESCRIPTION, "AudioDescriptionNames": [AUDIO_DESCRIPTION],
                        "OutputSettings": {"MediaPackageOutputSettings": {}}})  # fmt: skip
    return {
        "Name": "mediapackage",
        "OutputGroupSettings": {"MediaPackageGroupSettings": {
            "Destination": {"DestinationRefId": MEDIAPACKAGE_DESTINATION},
            "MediapackageV2GroupSettings": {
                "SegmentLength": max(1, round(plan.packaging.segment_target)),
                "SegmentLengthUnits": "SECONDS",
            },
        }},
        "Outputs": outputs,
    }  # fmt: skip


def input_destinations(stream_key: str) -> list[dict[str, str]]:
    """The one stream name the input accepts: the key is the publisher's credential, as at the ingest."""
    return [{"StreamName": f"{RTMP_APPLICATION}/{stream_key}"}]


def build_create_input(*, names: ManagedLiveNames, stream_key: str, security_group_id: str) -> dict[str, Any]:
    """An RTMP_PUSH input: publishers push to rtmp://<input address>/live/<stream key>, from the group's CIDRs."""
    return {
        "Name": names.input,
        "Type": "RTMP_PUSH",
        "InputSecurityGroups": [security_group_id],
        "Destinations": input_destinations(stream_key),
        "RequestId": names.token("input"),
        "Tags": names.tags,
    }


def simulcast_output_group(plan: LiveEncodePlan, targets: Sequence[SimulcastDestination]) -> dict[str, Any]:
    """One RTMP output per target, sharing the top rung's video encode and the audio encode with the MediaPackage
    outputs (no extra encode); paused while no publisher pushes, so a target never gets slate."""
    top = max(plan.renditions, key=lambda r: (r.height, r.bitrate))
    audio = [AUDIO_DESCRIPTION] if plan.audio is not None else []
    return {
        "Name": SIMULCAST_GROUP,
        "OutputGroupSettings": {"RtmpGroupSettings": {"InputLossAction": "PAUSE_OUTPUT"}},
        "Outputs": [{
            "OutputName": target.destination_id,
            "VideoDescriptionName": top.name,
            "AudioDescriptionNames": audio,
            "OutputSettings": {"RtmpOutputSettings": {
                "Destination": {"DestinationRefId": target.destination_id},
                "CertificateMode": "VERIFY_AUTHENTICITY",
                "ConnectionRetryInterval": RTMP_RETRY_SECONDS,
                "NumRetries": RTMP_RETRIES,
            }},
        } for target in targets],
    }  # fmt: skip


def channel_definition(*, names: ManagedLiveNames, input_id: str, role_arn: str, plan: LiveEncodePlan,
                       simulcast: Sequence[SimulcastDestination] = ()) -> dict[str, Any]:  # fmt: skip
    """What CreateChannel and UpdateChannel share: the RTMP input in, the planned ladder out to the stream's
    MediaPackage v2 channel, and the same encodes pushed to each simulcast target."""
    if not plan.renditions:
        raise ValueError("a MediaLive channel needs at least one video rendition")
    groups = [mediapackage_output_group(plan)] + ([simulcast_output_group(plan, simulcast)] if simulcast else [])
    return {
        "Name": names.channel,
        "RoleArn": role_arn,
        "LogLevel": "WARNING",
        "InputSpecification": {"Codec": "AVC", "Resolution": "HD", "MaximumBitrate": "MAX_20_MBPS"},
        "InputAttachments": [{
            "InputId": input_id,
            "InputAttachmentName": names.input,
            "InputSettings": {"AudioSelectors": [{"Name": AUDIO_SELECTOR}], "SourceEndBehavior": "CONTINUE"},
        }],
        "Destinations": [{
            "Id": MEDIAPACKAGE_DESTINATION,
            "MediaPackageSettings": [{"ChannelGroup": names.channel_group, "ChannelName": names.channel}],
        }] + [{"Id": t.destination_id, "Settings": [{"Url": t.url, "StreamName": t.stream_name}]} for t in simulcast],
        "EncoderSettings": {
            "TimecodeConfig": {"Source": "SYSTEMCLOCK"},
            "VideoDescriptions": [video_description(r, plan) for r in plan.renditions],
            "AudioDescriptions": [audio_description(plan.audio)] if plan.audio is not None else [],
            "OutputGroups": groups,
        },
    }  # fmt: skip


def build_create_channel(*, names: ManagedLiveNames, input_id: str, role_arn: str, plan: LiveEncodePlan,
                         simulcast: Sequence[SimulcastDestination] = ()) -> dict[str, Any]:  # fmt: skip
    """The channel, single pipeline (one RTMP_PUSH input), tagged for the deployment's IAM conditions."""
    return {**channel_definition(names=names, input_id=input_id, role_arn=role_arn, plan=plan, simulcast=simulcast),
            "ChannelClass": "SINGLE_PIPELINE", "RequestId": names.token("channel"), "Tags": names.tags}  # fmt: skip


def build_update_channel(*, channel_id: str, names: ManagedLiveNames, input_id: str, role_arn: str,
                         plan: LiveEncodePlan, simulcast: Sequence[SimulcastDestination]
                         ) -> dict[str, Any]:  # fmt: skip
    """The whole definition again with the stream's current simulcast targets (MediaLive takes it while idle)."""
    return {"ChannelId": channel_id, **channel_definition(names=names, input_id=input_id, role_arn=role_arn,
                                                          plan=plan, simulcast=simulcast)}  # fmt: skip


def build_create_mediapackage_channel(*, names: ManagedLiveNames) -> dict[str, Any]:
    """The MediaPackage v2 channel MediaLive pushes CMAF into."""
    return {
        "ChannelGroupName": names.channel_group,
        "ChannelName": names.channel,
        "InputType": "CMAF",
        "ClientToken": names.token("mediapackage-channel"),
        "Description": f"streamstack live stream {names.live_stream_id}",
        "Tags": names.tags,
    }


def build_create_origin_endpoint(*, names: ManagedLiveNames, plan: LiveEncodePlan, session_seconds: int
                                 ) -> dict[str, Any]:  # fmt: skip
    """CMAF segments of the plan's length; LL-HLS and standard HLS over the DVR window; a startover window that
    holds a whole session (up to its limit) until its harvest job has copied it."""
    window = max(MIN_MANIFEST_WINDOW, round(plan.packaging.window_seconds))
    startover = min(MAX_STARTOVER_WINDOW, max(window, session_seconds + HARVEST_MARGIN_SECONDS))
    return {
        "ChannelGroupName": names.channel_group,
        "ChannelName": names.channel,
        "OriginEndpointName": names.endpoint,
        "ContainerType": "CMAF",
        "Segment": {"SegmentDurationSeconds": max(1, round(plan.packaging.segment_target)), "SegmentName": "segment"},
        # Harvest jobs can copy only what the startover window still holds when they run.
        "StartoverWindowSeconds": startover,
        "LowLatencyHlsManifests": [{"ManifestName": LOW_LATENCY_MANIFEST, "ManifestWindowSeconds": window}],
        "HlsManifests": [{"ManifestName": STANDARD_MANIFEST, "ManifestWindowSeconds": window}],
        "ClientToken": names.token("endpoint"),
        "Tags": names.tags,
    }


def build_origin_endpoint_policy(*, names: ManagedLiveNames, role_arn: str, region: str,
                                 distribution_arn: str | None) -> dict[str, Any]:  # fmt: skip
    """Who reads the endpoint: MediaPackage's live-to-VOD harvester (this account's jobs only), and the deployment's
    CloudFront distribution (origin access control), where signed playback is enforced, so the endpoint is never a
    way around it. Without the harvester's grant a harvest job cannot read the endpoint (MediaPackage v2 User
    Guide, "Origin endpoint authorization", MediaPackage L2V Harvester)."""
    partition, account = role_arn.split(":")[1], role_arn.split(":")[4]  # the channel role is in this account
    endpoint = (f"arn:{partition}:mediapackagev2:{region}:{account}:channelGroup/{names.channel_group}"
                f"/channel/{names.channel}/originEndpoint/{names.endpoint}")  # fmt: skip
    statements: list[dict[str, Any]] = [{
        "Sid": "HarvesterReadsForLiveToVod", "Effect": "Allow",
        "Principal": {"Service": "mediapackagev2.amazonaws.com"},
        "Action": ["mediapackagev2:HarvestObject", "mediapackagev2:GetObject"],
        "Resource": endpoint,
        "Condition": {"StringEquals": {"AWS:SourceAccount": account}},
    }]  # fmt: skip
    if distribution_arn:
        statements.append({
            "Sid": "CloudFrontReadsThroughOAC", "Effect": "Allow",
            "Principal": {"Service": "cloudfront.amazonaws.com"},
            "Action": ["mediapackagev2:GetObject", "mediapackagev2:GetHeadObject"],
            "Resource": endpoint,
            "Condition": {"StringEquals": {"AWS:SourceArn": distribution_arn}},
        })  # fmt: skip
    policy = {"Version": "2012-10-17", "Statement": statements}
    return {"ChannelGroupName": names.channel_group, "ChannelName": names.channel,
            "OriginEndpointName": names.endpoint, "Policy": json.dumps(policy)}  # fmt: skip


def build_create_harvest_job(*, names: ManagedLiveNames, asset_id: str, bucket: str, start: datetime,
                             end: datetime) -> dict[str, Any]:  # fmt: skip
    """Live-to-VOD: the session's window of the standard HLS manifest, copied under the recording asset's prefix."""
    if end <= start:
        raise ValueError("a harvest window ends after it starts")
    return {
        "ChannelGroupName": names.channel_group,
        "ChannelName": names.channel,
        "OriginEndpointName": names.endpoint,
        "HarvestJobName": asset_id,
        "HarvestedManifests": {"HlsManifests": [{"ManifestName": STANDARD_MANIFEST}]},
        "ScheduleConfiguration": {"StartTime": start, "EndTime": end},
        "Destination": {"S3Destination": {"BucketName": bucket, "DestinationPath": asset_prefix(asset_id).rstrip("/")}},
        "ClientToken": names.token("harvest", asset_id),
        "Tags": names.tags,
    }


# EventBridge events the managed path reacts to (sent by AWS; live/managed.py maps them to the catalog), as AWS
# documents them:
# - MediaLive User Guide, "JSON for a state change event" and "JSON for an alert event"
#   (https://docs.aws.amazon.com/medialive/latest/ug/monitoring-cloudwatch-json-state-change.html, ...-json-alert.html):
#   source aws.medialive; detail {channel_arn, state, message, pipelines_running_count} for a state change,
#   detail {alarm_state SET|CLEARED, alarm_id, alert_type, pipeline, channel_arn, message} for an alert.
# - MediaLive User Guide, "List of alerts for channels" (monitor-activity-types-alerts-channels.html): the alert
#   wordings below (5305, 5307) are the ones an RTMP input SETs while nothing is pushed to it.
# - EventBridge event reference, "AWS Elemental MediaPackage events"
#   (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-mediapackagev2.html), and the MediaPackage v2
#   User Guide, "Monitoring AWS Elemental MediaPackage with EventBridge events" (harvest job notification
#   events): source aws.mediapackagev2, detail {harvestJob: {harvestJobName, arn, status, channelGroupName,
#   channelName, originEndpointName, scheduleConfiguration, destination, harvestedManifests, message}}, the
#   job's ARN in `resources`; sent when the job succeeds (COMPLETED) or fails (FAILED, `message` the reason).
CHANNEL_STATE_CHANGE = "MediaLive Channel State Change"
CHANNEL_ALERT = "MediaLive Channel Alert"
HARVEST_JOB_NOTIFICATION = "MediaPackageV2 HarvestJob Notification"
INPUT_LOSS_ALERTS = frozenset({"RTMP Has No Audio/Video", "RTMP Stream Not Found"})
CHANNEL_STOPPED_STATES = frozenset({"STOPPED", "IDLE"})  # the event's STOPPED; IDLE is DescribeChannel's word
HARVEST_FAILED_STATUSES = frozenset({"FAILED", "CANCELLED"})  # HarvestJobStatus values that end without a copy
