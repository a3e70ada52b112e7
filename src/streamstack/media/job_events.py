"""MediaConvert Job State Change events, as the ffmpeg encoder announces the end of its jobs.

The event carries only what MediaConvert itself sends (paths, durations, dimensions), so the metadata
processor derives everything else from the outputs and works unchanged for real MediaConvert jobs.
"""

from __future__ import annotations

import secrets
import string
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from streamstack.media.errors import MediaError, ProbeError
from streamstack.media.ladder import RenditionPlan
from streamstack.media.mp4 import pick_static_rendition
from streamstack.media.options import EncodeOptions
from streamstack.media.pipeline import EncodeResult, RenditionResult
from streamstack.settings import Settings

JOB_STATE_CHANGE = "MediaConvert Job State Change"
LOCAL_ACCOUNT_ID = "000000000000"  # the same placeholder account the worker's queue ARNs use
JOB_QUEUE_NAME = "Default"
# MediaConvert's documented numeric codes: 1010 = the input could not be opened/read; 1999 = other failure.
INPUT_ERROR_CODE = 1010
JOB_ERROR_CODE = 1999
INPUT_ERROR_CODES = frozenset({"source_missing", "source_too_large", "truncated_file"})


@dataclass(frozen=True)
class EncodeJob:
    """One attempt at encoding an asset's source: the job id its events carry."""

    asset_id: str
    job_id: str
    source_key: str
    options: EncodeOptions = EncodeOptions()


def new_job_id() -> str:
    """MediaConvert's job id shape (`1536964333549-opn151`): creation millis plus six random characters."""
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))
    return f"{int(time.time() * 1000)}-{suffix}"


def job_complete_event(settings: Settings, job: EncodeJob, result: EncodeResult) -> dict[str, Any]:
    """COMPLETE with an HLS_GROUP (and a FILE_GROUP for the static MP4), as MediaConvert reports them."""
    bucket = settings.s3_bucket
    duration_ms = round(result.duration * 1000)
    hls_outputs = [video_output(bucket, r.playlist_key, duration_ms, r) for r in result.renditions]
    if result.audio is not None:
        hls_outputs.append(file_output(bucket, result.audio.playlist_key, duration_ms))
    groups: list[dict[str, Any]] = [{
        "outputDetails": hls_outputs, "type": "HLS_GROUP",
        "playlistFilePaths": [s3_uri(bucket, result.master_key)],
    }]
    if result.static_mp4_key:
        source = pick_static_rendition(cast(Sequence[Any], result.renditions), job.options.mp4_support)
        output = (video_output(bucket, result.static_mp4_key, duration_ms, source) if source
                  else file_output(bucket, result.static_mp4_key, duration_ms))
        groups.append({"outputDetails": [output], "type": "FILE_GROUP"})
    return job_state_change(settings, job, "COMPLETE", {"outputGroupDetails": groups})


def job_error_event(settings: Settings, job: EncodeJob, error: MediaError) -> dict[str, Any]:
    """ERROR with MediaConvert's numeric code and the pipeline's precise, user-facing message."""
    code = INPUT_ERROR_CODE if isinstance(error, ProbeError) or error.code in INPUT_ERROR_CODES else JOB_ERROR_CODE
    return job_state_change(settings, job, "ERROR", {"errorCode": code, "errorMessage": error.message})


def job_state_change(settings: Settings, job: EncodeJob, status: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge envelope and the detail fields every MediaConvert job state change carries."""
    region = settings.aws_region
    now = datetime.now(UTC)
    arn = f"arn:aws:mediaconvert:{region}:{LOCAL_ACCOUNT_ID}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": JOB_STATE_CHANGE,
        "source": "aws.mediaconvert",
        "account": LOCAL_ACCOUNT_ID,
        "time": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": region,
        "resources": [f"{arn}:jobs/{job.job_id}"],
        "detail": {
            "timestamp": int(now.timestamp() * 1000),
            "accountId": LOCAL_ACCOUNT_ID,
            "queue": f"{arn}:queues/{JOB_QUEUE_NAME}",
            "jobId": job.job_id,
            "status": status,
            "userMetadata": {"asset_id": job.asset_id},
            **extra,
        },
    }


def video_output(bucket: str, key: str, duration_ms: int,
                 rendition: RenditionResult | RenditionPlan) -> dict[str, Any]:
    output = file_output(bucket, key, duration_ms)
    output["videoDetails"] = {"widthInPx": rendition.width, "heightInPx": rendition.height}
    return output


def file_output(bucket: str, key: str, duration_ms: int) -> dict[str, Any]:
    return {"outputFilePaths": [s3_uri(bucket, key)], "durationInMs": duration_ms}


def s3_uri(bucket: str, key: str) -> str:
    return f"s3://{bucket}/{key}"
