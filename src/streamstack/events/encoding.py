"""Runs one encode with the ffmpeg pipeline and announces its end as a MediaConvert Job State Change.

The event carries only what MediaConvert itself sends (paths, durations, dimensions), so the metadata
processor derives everything else from the outputs and works unchanged for real MediaConvert jobs.
"""

from __future__ import annotations

import json
import logging
import secrets
import string
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from sqlalchemy import update

from streamstack.assets import service as assets
from streamstack.assets.models import Asset
from streamstack.db.base import utcnow
from streamstack.db.session import session_scope
from streamstack.events.messages import MEDIACONVERT_DETAIL_TYPE
from streamstack.media.errors import MediaError, ProbeError
from streamstack.media.ladder import RenditionPlan
from streamstack.media.mp4 import pick_static_rendition
from streamstack.media.pipeline import EncodeResult, RenditionResult, encode_asset
from streamstack.observability import metrics
from streamstack.platform import Platform

log = logging.getLogger("streamstack.events.encoding")

LOCAL_ACCOUNT_ID = "000000000000"  # the same placeholder account the worker's queue ARNs use
JOB_QUEUE_NAME = "Default"
PROGRESS_MIN_SECONDS = 1.0
# MediaConvert's documented numeric codes: 1010 = the input could not be opened/read; 1999 = other failure.
INPUT_ERROR_CODE = 1010
JOB_ERROR_CODE = 1999
INPUT_ERROR_CODES = frozenset({"source_missing", "source_too_large", "truncated_file"})


@dataclass(frozen=True)
class EncodeJob:
    """What one attempt needs from the catalog, read once so the encode holds no transaction open."""

    asset_id: str
    job_id: str
    source_key: str
    mp4_support: str
    started_at: datetime


def run_encode_job(platform: Platform, *, asset_id: str) -> None:
    """Encode the asset's source; a MediaError becomes an ERROR event, any other exception propagates (retry)."""
    with metrics.observe_handler("encode"):
        job = start_job(platform, asset_id=asset_id)
        if job is not None:
            platform.events_queue.send(json.dumps(encode(platform, job)))


def encode(platform: Platform, job: EncodeJob) -> dict[str, Any]:
    """Run the pipeline and describe how the job ended, as MediaConvert would."""
    metrics.record_encoding_state("running")
    started = time.monotonic()
    try:
        result = encode_asset(
            store=platform.store, asset_id=job.asset_id, source_key=job.source_key, settings=platform.settings,
            on_progress=ProgressWriter(platform, job.asset_id), on_playable=lambda: mark_playable(platform, job),
            mp4_support=job.mp4_support,
        )
    except MediaError as exc:
        metrics.record_encoding_state("failed")
        log.info("encode refused the input", extra={"asset_id": job.asset_id, "code": exc.code})
        return job_error_event(platform, job, exc)
    except Exception:
        metrics.record_encoding_state("failed")  # this attempt; the queue retries the message
        raise
    finally:
        metrics.observe_encoding_job(time.monotonic() - started)
    metrics.record_encoding_state("completed")
    return job_complete_event(platform, job, result)


def start_job(platform: Platform, *, asset_id: str) -> EncodeJob | None:
    """Record the attempt (new job id, start time); None when the asset is gone or already finished."""
    with session_scope(platform.sessions) as db_session:
        asset = db_session.get(Asset, asset_id)
        if asset is None or asset.status in ("ready", "errored"):
            log.info("encode skipped", extra={"asset_id": asset_id})
            return None
        asset.job_id = new_job_id()
        asset.encoding_started_at = utcnow()
        asset.status = "preparing"
        asset.progress = 0.0
        asset.playable_at = None  # an earlier attempt's outputs are being replaced
        return EncodeJob(asset_id=asset.id, job_id=asset.job_id, source_key=assets.source_key(asset.id),
                         mp4_support=asset.mp4_support or "none", started_at=asset.encoding_started_at)


def new_job_id() -> str:
    """MediaConvert's job id shape (`1536964333549-opn151`): creation millis plus six random characters."""
    suffix = "".join(secrets.choice(string.ascii_lowercase + string.digits) for _ in range(6))
    return f"{int(time.time() * 1000)}-{suffix}"


class ProgressWriter:
    """Receives every progress report but writes at most once a second (and always the final 100)."""

    def __init__(self, platform: Platform, asset_id: str) -> None:
        self.platform = platform
        self.asset_id = asset_id
        self.last_write = float("-inf")

    def __call__(self, percent: float) -> None:
        now = time.monotonic()
        if percent < 100 and now - self.last_write < PROGRESS_MIN_SECONDS:
            return
        self.last_write = now
        with session_scope(self.platform.sessions) as db_session:
            db_session.execute(
                update(Asset)
                .where(Asset.id == self.asset_id, Asset.status == "preparing", Asset.progress < percent)
                .values(progress=percent)
                .execution_options(synchronize_session=False)
            )


def mark_playable(platform: Platform, job: EncodeJob) -> None:
    """The master and first segments are published: players can start now, long before the ladder ends."""
    now = utcnow()
    with session_scope(platform.sessions) as db_session:
        db_session.execute(
            update(Asset)
            .where(Asset.id == job.asset_id, Asset.job_id == job.job_id, Asset.playable_at.is_(None))
            .values(playable_at=now)
            .execution_options(synchronize_session=False)
        )
    metrics.observe_time_to_playable((now - job.started_at).total_seconds())


def job_complete_event(platform: Platform, job: EncodeJob, result: EncodeResult) -> dict[str, Any]:
    """COMPLETE with an HLS_GROUP (and a FILE_GROUP for the static MP4), as MediaConvert reports them."""
    bucket = platform.settings.s3_bucket
    duration_ms = round(result.duration * 1000)
    hls_outputs = [video_output(bucket, r.playlist_key, duration_ms, r) for r in result.renditions]
    if result.audio is not None:
        hls_outputs.append(file_output(bucket, result.audio.playlist_key, duration_ms))
    groups: list[dict[str, Any]] = [{
        "outputDetails": hls_outputs, "type": "HLS_GROUP",
        "playlistFilePaths": [s3_uri(bucket, result.master_key)],
    }]
    if result.static_mp4_key:
        source = pick_static_rendition(cast(Sequence[Any], result.renditions), job.mp4_support)
        output = (video_output(bucket, result.static_mp4_key, duration_ms, source) if source
                  else file_output(bucket, result.static_mp4_key, duration_ms))
        groups.append({"outputDetails": [output], "type": "FILE_GROUP"})
    return job_state_change(platform, job, "COMPLETE", {"outputGroupDetails": groups})


def job_error_event(platform: Platform, job: EncodeJob, error: MediaError) -> dict[str, Any]:
    """ERROR with MediaConvert's numeric code and the pipeline's precise, user-facing message."""
    code = INPUT_ERROR_CODE if isinstance(error, ProbeError) or error.code in INPUT_ERROR_CODES else JOB_ERROR_CODE
    return job_state_change(platform, job, "ERROR", {"errorCode": code, "errorMessage": error.message})


def job_state_change(platform: Platform, job: EncodeJob, status: str, extra: dict[str, Any]) -> dict[str, Any]:
    """The EventBridge envelope and the detail fields every MediaConvert job state change carries."""
    region = platform.settings.aws_region
    now = datetime.now(UTC)
    arn = f"arn:aws:mediaconvert:{region}:{LOCAL_ACCOUNT_ID}"
    return {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": MEDIACONVERT_DETAIL_TYPE,
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
