"""The Encoder port: start a job for an asset's source; its end comes back as a MediaConvert Job State Change.

Two adapters, chosen once from Settings by `open_encoder`:
- `FfmpegEncoder` runs the ffmpeg pipeline in the calling process (a worker) and sends the event itself;
- `MediaConvertEncoder` probes the source, submits a CreateJob and returns; EventBridge sends the events.
Both report to a `JobTracker` (the catalog side, owned by the events layer), so media never touches a domain.

Live has its side of the port, `LiveEncoder`: `plan` is the ladder every adapter shares (a managed
encoder such as MediaLive plans it against a nominal contribution and translates it into its channel),
`start` runs one publisher connection's encode. `FfmpegLiveEncoder` is the adapter that runs here.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import IO, Any, Protocol

from streamstack.aws import client
from streamstack.media.errors import MediaError
from streamstack.media.job_events import EncodeJob, job_complete_event, job_error_event, new_job_id
from streamstack.media.live import RELAYED_INPUT, LiveEncodePlan, build_live_command, plan_live
from streamstack.media.mediaconvert import plan_job
from streamstack.media.options import EncodeOptions
from streamstack.media.pipeline import encode_asset
from streamstack.media.probe import Probe, check_source_limits, probe_stored
from streamstack.media.safety import ffmpeg_exe
from streamstack.observability import metrics
from streamstack.queue.base import Queue
from streamstack.settings import Settings
from streamstack.storage.base import ObjectStore

log = logging.getLogger("streamstack.media.encoder")

# Statuses of the Job State Change events each adapter's jobs produce (the metadata processor handles all).
FFMPEG_EMITS = frozenset({"COMPLETE", "ERROR"})
MEDIACONVERT_EMITS = frozenset({"PROGRESSING", "INPUT_INFORMATION", "STATUS_UPDATE", "COMPLETE", "ERROR"})


@dataclass(frozen=True)
class EncodeRequest:
    """What an encoder needs to know about the asset, read from the catalog before the job starts."""

    asset_id: str
    source_key: str
    options: EncodeOptions = EncodeOptions()


class JobTracker(Protocol):
    """What the catalog learns while a job runs; the events layer implements it."""

    def started(self, job_id: str) -> bool:
        """Record the attempt under its job id; False when the asset is gone or finished (do not run)."""
        ...

    def progress(self, percent: float) -> None: ...

    def playable(self) -> None:
        """The master and first segments are published: players can start."""
        ...


class Encoder(Protocol):
    """Starts encode jobs; `remote` encoders return at once, the others run the job in the caller."""

    name: str
    remote: bool
    emits: frozenset[str]

    def start(self, request: EncodeRequest, tracker: JobTracker) -> str | None:
        """Start (or run) one job; its id, or None when the tracker refused it. Raises MediaError for a bad source."""
        ...


class FfmpegEncoder:
    """The ffmpeg pipeline in this process; the job's end goes to the events queue as MediaConvert would send it."""

    name = "ffmpeg"
    remote = False
    emits = FFMPEG_EMITS

    def __init__(self, *, settings: Settings, store: ObjectStore, events_queue: Queue) -> None:
        self.settings, self.store, self.events_queue = settings, store, events_queue

    def start(self, request: EncodeRequest, tracker: JobTracker) -> str | None:
        job = EncodeJob(asset_id=request.asset_id, job_id=new_job_id(), source_key=request.source_key,
                        options=request.options)
        if not tracker.started(job.job_id):
            return None
        self.events_queue.send(json.dumps(self.encode(job, tracker)))
        return job.job_id

    def encode(self, job: EncodeJob, tracker: JobTracker) -> dict[str, Any]:
        """Run the pipeline; a MediaError becomes an ERROR event, any other exception propagates (retry)."""
        metrics.record_encoding_state("running")
        started = time.monotonic()
        try:
            result = encode_asset(
                store=self.store, asset_id=job.asset_id, source_key=job.source_key, settings=self.settings,
                on_progress=tracker.progress, on_playable=tracker.playable, options=job.options,
            )
        except MediaError as exc:
            metrics.record_encoding_state("failed")
            log.info("encode refused the input", extra={"asset_id": job.asset_id, "code": exc.code})
            return job_error_event(self.settings, job, exc)
        except Exception:
            metrics.record_encoding_state("failed")  # this attempt; the queue retries the message
            raise
        finally:
            metrics.observe_encoding_job(time.monotonic() - started)
        metrics.record_encoding_state("completed")
        return job_complete_event(self.settings, job, result)


class MediaConvertEncoder:
    """AWS Elemental MediaConvert: the same ladder as the ffmpeg workers, submitted as one CreateJob."""

    name = "mediaconvert"
    remote = True
    emits = MEDIACONVERT_EMITS

    def __init__(self, *, settings: Settings, store: ObjectStore, mediaconvert_client: Any = None) -> None:
        self.settings, self.store, self._client = settings, store, mediaconvert_client

    @property
    def client(self) -> Any:
        if self._client is None:
            self._client = mediaconvert_client(self.settings)
        return self._client

    def start(self, request: EncodeRequest, tracker: JobTracker) -> str | None:
        """Probe, plan, submit, and record the job id so the job's events are recognised as current."""
        job = plan_job(request.asset_id, self.probe_source(request.source_key), self.settings,
                       source_key=request.source_key, options=request.options)
        job_id = self.submit(job)
        tracker.started(job_id)
        return job_id

    def submit(self, create_job: dict[str, Any]) -> str:
        """CreateJob; returns the job id MediaConvert assigned."""
        return str(self.client.create_job(**create_job)["Job"]["Id"])

    def probe_source(self, source_key: str) -> Probe:
        """Probe the source where it is stored, by ranged reads (a Lambda's /tmp could not hold it)."""
        info = probe_stored(self.store, source_key, max_bytes=self.settings.max_upload_bytes)
        check_source_limits(info, self.settings)
        return info


class LiveEncoder(Protocol):
    """A live session's transcode: planned once from the first connection, run for every connection."""

    name: str

    def plan(self, probe: Probe, *, low_latency: bool) -> LiveEncodePlan:
        """The session's ladder, audio and part/segment timing (kept across reconnects)."""
        ...

    def start(self, plan: LiveEncodePlan, probe: Probe, outputs: Sequence[int], *,
              diagnostics: IO[bytes]) -> subprocess.Popen[bytes]:
        """Encode one connection: FLV on the process's stdin, one fragmented MP4 per rendition on `outputs`."""
        ...


class FfmpegLiveEncoder:
    """One ffmpeg per connection: decode once, every rendition, fMP4 fragments on pipes (media/live.py)."""

    name = "ffmpeg"

    def __init__(self, settings: Any) -> None:
        self.settings = settings

    def plan(self, probe: Probe, *, low_latency: bool) -> LiveEncodePlan:
        return plan_live(probe, self.settings, low_latency=low_latency)

    def start(self, plan: LiveEncodePlan, probe: Probe, outputs: Sequence[int], *,
              diagnostics: IO[bytes]) -> subprocess.Popen[bytes]:
        command = build_live_command(RELAYED_INPUT, probe, plan, outputs)
        return subprocess.Popen([ffmpeg_exe(), "-hide_banner", "-nostdin", *command], pass_fds=list(outputs),
                                stdin=subprocess.PIPE, stderr=diagnostics, start_new_session=True)  # fmt: skip


def mediaconvert_client(settings: Settings) -> Any:
    """MediaConvert at the account endpoint from settings (regional endpoints also accept CreateJob)."""
    return client("mediaconvert", settings, endpoint_url=settings.mediaconvert_endpoint_url)


def open_encoder(settings: Settings, *, store: ObjectStore, events_queue: Queue) -> Encoder | None:
    """The configured encoder, or None for encoder=none (sources then error with a reason)."""
    if settings.encoder == "mediaconvert":
        return MediaConvertEncoder(settings=settings, store=store)
    if settings.encoder == "ffmpeg":
        return FfmpegEncoder(settings=settings, store=store, events_queue=events_queue)
    return None


__all__ = ["EncodeRequest", "Encoder", "FfmpegEncoder", "FfmpegLiveEncoder", "JobTracker", "LiveEncoder",
           "MediaConvertEncoder", "MediaError", "open_encoder"]
