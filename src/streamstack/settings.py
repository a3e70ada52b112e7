"""One Settings object: every knob of the platform, read from STREAMSTACK_* environment variables."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

WorkerQueue = Literal["encode", "events"]
DEFAULT_WORKER_QUEUES: tuple[WorkerQueue, ...] = ("events", "encode")
WILDCARD_HOSTS = frozenset({"", "0.0.0.0", "::"})


class Settings(BaseSettings):
    """Every setting has an embedded default; the AWS shape overrides them through the environment."""

    model_config = SettingsConfigDict(env_prefix="STREAMSTACK_", extra="ignore")

    profile: Literal["embedded", "aws"] = Field(
        "embedded", description="Selects every adapter at once: embedded (SQLite, folder, local queue) or aws."
    )
    data_dir: Path = Field(Path(".streamstack"), description="Where the embedded shape keeps catalog, objects, queue.")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL of the catalog; defaults to SQLite in data_dir. postgresql://... for RDS."
    )
    database_iam_auth: bool = Field(
        False, description="PostgreSQL on RDS: a fresh IAM auth token per new connection instead of a password."
    )
    auto_migrate: bool = Field(
        True, description="Apply Alembic migrations on start. Off in the aws shape: run `streamstack db upgrade`."
    )

    api_host: str = Field("127.0.0.1", description="Interface the API and console listen on.")
    api_port: int = Field(8000, description="Port of the API and web console.")
    edge_port: int = Field(8001, description="Port of the edge (HLS delivery).")
    edge_admin_host: str = Field(
        "127.0.0.1", description="Interface of the edge's operator listener (/metrics, /_edge/stats); keep it private."
    )
    edge_admin_port: int = Field(
        8002, description="Port of the edge's operator listener, never the public port; 0 turns it off."
    )
    public_api_url: str | None = Field(None, description="Base URL clients use for the API; default http://host:api_port.")
    public_edge_url: str | None = Field(
        None,
        description="Base URL players use for playback (CloudFront domain in aws); default http://host:edge_port. "
        "Signed-playback resources are matched against it (and the edge's own address), never the Host header.",
    )

    storage_backend: Literal["local", "s3"] | None = Field(None, description="Object store adapter; follows profile.")
    s3_bucket: str = Field("streamstack-media", description="Bucket name (also the bucket name in local S3 events).")
    aws_region: str = Field("us-east-1", description="AWS region for boto3 clients.")
    aws_endpoint_url: str | None = Field(None, description="Override AWS endpoints (moto, LocalStack).")

    queue_backend: Literal["sqlite", "sqs"] | None = Field(None, description="Queue adapter; follows profile.")
    encode_queue: str = Field("encode", description="Queue of S3 ObjectCreated events that start encodes.")
    events_queue: str = Field("events", description="Queue of MediaConvert-style job state change events.")
    queue_visibility_timeout: float = Field(
        30.0, gt=0, le=43200,
        description="Seconds a received message stays invisible; workers extend it every third of it while they "
        "work, so a killed worker's job is redelivered this long after its last heartbeat.",
    )
    queue_max_receive_count: int = Field(5, description="Receives before a message is redriven to its DLQ.")
    worker_queues: list[WorkerQueue] = Field(
        default_factory=lambda: list(DEFAULT_WORKER_QUEUES),
        description="Queues a worker consumes; aws: only encode (Lambda handles events).",
    )
    worker_concurrency: int = Field(1, description="Encode jobs a worker process runs at once.")

    api_key_bootstrap: bool = Field(True, description="`up` creates and prints an admin key on first run.")
    max_upload_bytes: int = Field(10 * 1024**3, ge=0, le=2**63 - 1,
                                  description="Largest accepted upload or import, in bytes.")
    outbound_allow_cidrs: list[str] = Field(
        default_factory=list, description="Private CIDRs that imports and webhooks may reach (JSON list)."
    )
    import_timeout_seconds: float = Field(30.0, description="Connect/read timeout of URL imports.")
    idempotency_ttl_seconds: int = Field(24 * 3600, description="How long an Idempotency-Key is remembered.")

    encoder: Literal["ffmpeg", "mediaconvert", "none"] = Field("ffmpeg", description="Encoding backend.")
    ladder_mode: Literal["fixed", "auto"] = Field(
        "fixed", description="Default for assets that do not set `ladder`: auto prices each rung by a short "
        "content analysis (probe encodes + VMAF) and drops rungs that add little.",
    )
    auto_ladder_target_vmaf: float = Field(
        97.0, ge=50.0, le=100.0, description="VMAF each rung of an auto ladder aims at (at its own size)."
    )
    auto_ladder_min_vmaf_gain: float = Field(
        2.0, ge=0.0, description="An auto-ladder rung adding less VMAF than this over the rung below is dropped."
    )
    auto_ladder_max_analysis_share: float = Field(
        0.15, gt=0.0, description="Budget of the auto-ladder analysis as a share of the predicted encode time; "
        "beyond it the fixed ladder is used.",
    )
    normalize_audio: bool = Field(
        False, description="EBU R128 loudness normalisation for assets that do not set normalize_audio themselves."
    )
    loudness_target_lufs: float = Field(
        -23.0, ge=-70.0, le=-5.0, description="Integrated loudness normalised audio is brought to (EBU R128: -23)."
    )
    loudness_true_peak_dbtp: float = Field(-1.0, ge=-9.0, le=0.0, description="True-peak ceiling of normalised audio.")
    loudness_analysis_seconds: float = Field(
        120.0, ge=0.0, description="Budget of the loudness analysis pass; beyond it (or 0) normalisation is one "
        "dynamic pass inside the encode instead of a linear gain.",
    )
    segment_seconds: float = Field(4.0, description="HLS segment duration.")
    keyframe_seconds: float = Field(2.0, description="GOP length; aligned across renditions.")
    ladder: list[dict[str, Any]] | None = Field(
        None, description='Custom ABR ladder, e.g. [{"name": "720p", "height": 720, "video_kbps": 3000}] (JSON).'
    )
    max_resolution: int | None = Field(None, description="Cap on the ladder's tallest rendition (e.g. 720).")
    max_frame_rate: float = Field(60.0, description="Frame-rate cap of every rendition.")
    x264_preset: str = Field("veryfast", description="libx264 preset of the ffmpeg encoder.")
    max_source_dimension: int = Field(
        8192, ge=1, description="Longest side, in pixels, of a source video; a larger one errors before encoding."
    )
    max_source_pixel_rate: float = Field(
        7680 * 4320 * 60, gt=0, description="Largest source width x height x frame rate (default 8K at 60 fps)."
    )
    max_source_duration_seconds: float = Field(
        12 * 3600.0, gt=0, description="Longest accepted source duration; a longer one errors before encoding."
    )
    job_timeout_seconds: float = Field(3600.0, description="Wall-clock limit of one encode job.")
    job_max_output_bytes: int = Field(20 * 1024**3, description="Output-size limit of one encode job.")
    thumbnail_fraction: float = Field(0.1, description="Poster time as a fraction of the duration.")
    storyboard_interval_seconds: float = Field(5.0, description="Seconds between storyboard tiles.")
    mediaconvert_role_arn: str | None = Field(None, description="IAM role MediaConvert assumes (encoder=mediaconvert).")
    mediaconvert_endpoint_url: str | None = Field(None, description="Account MediaConvert endpoint.")

    live_encoder: Literal["ffmpeg", "medialive"] = Field(
        "ffmpeg", description="Live transcode: ffmpeg in the ingest, or MediaLive + MediaPackage v2 per stream (aws)."
    )
    medialive_role_arn: str | None = Field(None, description="IAM role MediaLive channels assume (medialive).")
    medialive_input_security_group: str | None = Field(
        None, description="MediaLive input security group of RTMP_PUSH inputs (live_encoder=medialive)."
    )
    cdn_distribution_arn: str | None = Field(
        None, description="CloudFront distribution reading managed live endpoints (medialive, OAC; and the harvester)."
    )
    mediapackage_channel_group: str | None = Field(
        None, description="MediaPackage v2 channel group of the live streams; also their names' prefix (medialive)."
    )
    managed_live_abandon_seconds: int = Field(
        1800, ge=600, description="A managed live create unfinished this long is undone by the worker (medialive)."
    )
    rtmp_port: int = Field(1935, description="Port of the RTMP ingest (nginx with its RTMP module); 0 turns it off.")
    srt_port: int = Field(8890, description="UDP port of the SRT ingest (the key in the streamid); 0 turns it off.")
    public_ingest_host: str | None = Field(None, description="Host in rtmp_url and srt_url; default api_host.")
    live_ladder: list[dict[str, Any]] | None = Field(
        None, description="Custom live ABR ladder (as ladder); default 1080p/720p/480p/360p, never upscaled."
    )
    live_part_seconds: float = Field(0.5, description="LL-HLS part duration (one fMP4 fragment per part).")
    live_dvr_window: float = Field(1800.0, description="Seconds of a live stream players can seek back (DVR window).")
    live_x264_preset: str = Field("superfast", description="libx264 preset of the live encoder.")
    simulcast_allow_private: bool = Field(
        False, description="Simulcast targets may be loopback or private addresses (a restream relay on your own "
        "network, tests); off, they must resolve to public addresses. Link-local stays refused.",
    )
    simulcast_ca_file: Path | None = Field(
        None, description="CA bundle (PEM) rtmps:// simulcast targets are verified against; default: certifi's."
    )
    live_max_sessions: int = Field(
        0, ge=0, description="Live sessions one ingest process admits (aws: 1, a task sized by the live ladder); "
        "0: no limit. A publisher beyond it is refused and reconnects to another task.",
    )
    live_drain_seconds: float = Field(
        100.0, ge=0.0, description="On SIGTERM the ingest admits no new session and waits this long for its "
        "sessions to end before handing the rest over (live_hand_over) or closing them as recordings; below ECS's "
        "stopTimeout.",
    )
    live_hand_over: bool = Field(
        False, description="This ingest is one of several behind a load balancer (aws): a departing publisher's "
        "session waits for its reconnect in the store, and the ingest the reconnect lands on takes it over (the "
        "same stream and recording, a discontinuity); at the drain deadline live sessions are handed over so. "
        "Off (`up`, the only ingest): sessions wait in memory and the drain deadline closes them as recordings.",
    )
    live_prescale_services: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="aws: ECS services a scheduled live stream pre-scales, as JSON {name: {resource_id, "
        "min_tasks, max_tasks}} (name: edge, api or ingest); empty: no pre-scaling.",
    )
    live_prescale_lead_seconds: int = Field(
        1800, ge=0, description="How long before a live stream's scheduled_start its services scale out."
    )
    live_prescale_hold_seconds: int = Field(
        3 * 3600, ge=60, description="How long after scheduled_start the raised minimum holds (then target tracking)."
    )

    playback_token_ttl_seconds: int = Field(3600, description="Default lifetime of signed playback URLs/cookies.")
    edge_workers: int = Field(1, description="Edge worker processes (each has its own cache and coalescing).")
    edge_cache_bytes: int = Field(256 * 1024**2, description="Byte budget of the edge's in-memory LRU cache.")
    edge_origin_url: str | None = Field(
        None,
        description="Another edge (an origin shield) this edge reads objects from over HTTP instead of the store "
        "(two tiers, docs/live.md); unset: the store.",
    )
    edge_origin_token: SecretStr | None = Field(
        None,
        description="Shared secret of the shield's origin path /_origin/: a shield answers it only when set, and an "
        "edge with edge_origin_url sends it.",
    )

    webhook_timeout_seconds: float = Field(5.0, description="Timeout of one webhook delivery attempt.")
    webhook_max_age_seconds: int = Field(24 * 3600, description="Retry a webhook with backoff for this long.")

    secrets_backend: Literal["env", "aws"] = Field("env", description="Where secrets come from.")
    secrets_refresh_seconds: int = Field(300, description="Cache lifetime of secrets read from Secrets Manager.")
    secrets_prefix: str = Field("streamstack/", description="Name prefix of the platform's Secrets Manager secrets.")
    idempotency_table: str | None = Field(
        None, description="DynamoDB table of the Lambda handlers' idempotency records (aws shape)."
    )

    log_level: str = Field("INFO", description="Root log level.")
    log_json: bool = Field(True, description="Structured JSON logs.")
    metrics_enabled: bool = Field(True, description="Expose Prometheus /metrics and record metrics.")
    tracing_enabled: bool = Field(False, description="OpenTelemetry tracing.")

    @property
    def resolved_database_url(self) -> str:
        """SQLite in data_dir unless a URL is given; psycopg 3 for postgresql:// URLs."""
        url = self.database_url or f"sqlite:///{(self.data_dir / 'catalog.db').resolve()}"
        if url.startswith("postgresql://"):
            url = "postgresql+psycopg://" + url[len("postgresql://") :]
        return url

    @property
    def resolved_storage_backend(self) -> str:
        return self.storage_backend or ("s3" if self.profile == "aws" else "local")

    @property
    def resolved_queue_backend(self) -> str:
        return self.queue_backend or ("sqs" if self.profile == "aws" else "sqlite")

    @property
    def objects_dir(self) -> Path:
        return self.data_dir / "objects"

    @property
    def uploads_dir(self) -> Path:
        return self.data_dir / "uploads"

    @property
    def queue_path(self) -> Path:
        return self.data_dir / "queue.db"

    @property
    def api_base_url(self) -> str:
        return (self.public_api_url or f"http://{self.api_host}:{self.api_port}").rstrip("/")

    @property
    def edge_base_url(self) -> str:
        return (self.public_edge_url or self.local_edge_url).rstrip("/")

    @property
    def local_edge_url(self) -> str:
        host = f"[{self.api_host}]" if ":" in self.api_host else self.api_host
        return f"http://{host}:{self.edge_port}"

    @property
    def edge_base_urls(self) -> tuple[str, ...]:
        """Bases a signed resource may name: the public one, and the edge's own address unless it is a wildcard."""
        if self.api_host in WILDCARD_HOSTS or self.local_edge_url == self.edge_base_url:
            return (self.edge_base_url,)
        return (self.edge_base_url, self.local_edge_url)


@lru_cache
def get_settings() -> Settings:
    """Settings are read once per process."""
    return Settings()
