"""Live streams (Mux's model): the table and the API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field, model_validator
from sqlalchemy import JSON, Boolean, DateTime, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from streamstack.assets.models import DEFAULT_POLICY, NewAssetSettings, PlaybackIdOut, PlaybackPolicy
from streamstack.db.base import Base, Timestamped
from streamstack.timestamps import UtcDateTime

LiveStatus = Literal["idle", "active", "disabled"]
SimulcastStatus = Literal["idle", "starting", "broadcasting", "errored"]
LatencyMode = Literal["low", "standard"]
DEFAULT_RECONNECT_WINDOW = 60
MAX_RECONNECT_WINDOW = 1800
DEFAULT_MAX_CONTINUOUS_DURATION = 12 * 3600
TEST_STREAM_SECONDS = 300
MAX_SIMULCAST_TARGETS = 10


class LiveStream(Timestamped, Base):
    __tablename__ = "live_streams"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    stream_key: Mapped[str] = mapped_column(String(64), unique=True)
    srt_passphrase: Mapped[str | None] = mapped_column(String(64))  # set on create and on every key reset
    status: Mapped[str] = mapped_column(String(16), default="idle", index=True)
    latency_mode: Mapped[str] = mapped_column(String(16), default="low")
    reconnect_window: Mapped[int] = mapped_column(Integer, default=DEFAULT_RECONNECT_WINDOW)
    max_continuous_duration: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_CONTINUOUS_DURATION)
    test: Mapped[bool] = mapped_column(Boolean, default=False)
    passthrough: Mapped[str | None] = mapped_column(String(255))
    new_asset_settings: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    active_asset_id: Mapped[str | None] = mapped_column(String(40))
    recent_asset_ids: Mapped[list[str]] = mapped_column(JSON, default=list)
    disconnected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    session_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # the last heartbeat of the ingest holding the publisher (several ingests, hand-over): an ingest that died
    # (SIGKILL, out of memory) could not say its publisher left, so a reconnect is let in once it is stale
    ingest_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    scheduled_start: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    expected_viewers: Mapped[int | None] = mapped_column(Integer)
    # live_encoder=medialive: its MediaLive input and channel and the input's RTMP URL (media.managed_live)
    managed: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    # why the last publisher with a valid key was refused ({reason, message, at}); cleared when one is admitted
    last_refusal: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class ManagedProvisioning(Timestamped, Base):
    """A managed stream's create under way (live_encoder=medialive): committed before AWS is called, each resource's
    id as AWS answers, gone in the stream's own commit. One left behind (the API died, or its commit failed) is
    what the worker's sweep deletes (live/provisioning.py)."""

    __tablename__ = "managed_provisionings"

    live_stream_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    input_id: Mapped[str | None] = mapped_column(String(64))
    channel_id: Mapped[str | None] = mapped_column(String(64))
    # set when the sweep takes the row over: the create's commit then fails instead of keeping a deleted channel
    abandoned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SimulcastTarget(Timestamped, Base):
    """An RTMP(S) destination the live stream is restreamed to while it is live (Mux's simulcast target)."""

    __tablename__ = "simulcast_targets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    live_stream_id: Mapped[str] = mapped_column(String(40), index=True)
    url: Mapped[str] = mapped_column(String(1024))
    stream_key: Mapped[str | None] = mapped_column(String(255))
    passthrough: Mapped[str | None] = mapped_column(String(255))
    status: Mapped[str] = mapped_column(String(16), default="idle")
    error: Mapped[str | None] = mapped_column(Text)


class SimulcastTargetCreate(BaseModel):
    """POST /v1/live-streams/{id}/simulcast-targets (and each of `simulcast_targets` at creation)."""

    url: str = Field(..., max_length=1024, description="rtmp:// or rtmps:// server URL of the destination.")
    stream_key: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[!-~]+$",
                                   description="Appended to the URL as its last path segment, as OBS does.")
    passthrough: str | None = Field(None, max_length=255)


class SimulcastTargetOut(BaseModel):
    id: str
    live_stream_id: str
    status: SimulcastStatus
    url: str
    stream_key: str | None = Field(None, description="In full to write-scoped API keys; masked for read keys.")
    passthrough: str | None
    error: str | None = Field(None, description="Why the last attempt failed (status errored).")
    created_at: UtcDateTime


class SimulcastTargetList(BaseModel):
    data: list[SimulcastTargetOut]


class LiveStreamCreate(BaseModel):
    """POST /v1/live-streams, with Mux's field names."""

    playback_policy: list[PlaybackPolicy] = Field(default_factory=lambda: list(DEFAULT_POLICY), max_length=2)
    new_asset_settings: NewAssetSettings | None = None
    reconnect_window: int = Field(DEFAULT_RECONNECT_WINDOW, ge=0, le=MAX_RECONNECT_WINDOW)
    latency_mode: LatencyMode = "low"
    max_continuous_duration: int = Field(DEFAULT_MAX_CONTINUOUS_DURATION, ge=60, le=DEFAULT_MAX_CONTINUOUS_DURATION)
    passthrough: str | None = Field(None, max_length=255)
    test: bool = False
    simulcast_targets: list[SimulcastTargetCreate] = Field(default_factory=list, max_length=MAX_SIMULCAST_TARGETS)
    scheduled_start: UtcDateTime | None = Field(
        None, description="When the event starts (RFC 3339); with expected_viewers, the aws shape pre-scales for it."
    )
    expected_viewers: int | None = Field(None, ge=1, le=100_000_000, description="Concurrent viewers expected.")

    _both = model_validator(mode="after")(lambda self: _both_or_neither(self))


class LiveStreamSchedule(BaseModel):
    """PATCH /v1/live-streams/{id}: announce, move or cancel (both null) a scheduled event."""

    scheduled_start: UtcDateTime | None = None
    expected_viewers: int | None = Field(None, ge=1, le=100_000_000)

    _both = model_validator(mode="after")(lambda self: _both_or_neither(self))


def _both_or_neither(body: Any) -> Any:
    """A schedule needs both figures: a start without an audience (or the reverse) sizes nothing."""
    if (body.scheduled_start is None) != (body.expected_viewers is None):
        raise ValueError("scheduled_start and expected_viewers go together (set both, or neither)")
    return body


class PublishRefusal(BaseModel):
    """Why a publisher with a valid key was refused after it connected."""

    reason: Literal["no_video"] = Field(..., description="no_video: it sent audio only, or no media in time.")
    message: str
    at: UtcDateTime


class LiveStreamOut(BaseModel):
    id: str
    stream_key: str | None = Field(None, description="Shown to write-scoped API keys only.")
    status: LiveStatus
    connected: bool
    latency_mode: LatencyMode
    reconnect_window: int
    max_continuous_duration: int
    test: bool
    passthrough: str | None
    new_asset_settings: dict[str, Any] | None
    playback_ids: list[PlaybackIdOut]
    active_asset_id: str | None
    recent_asset_ids: list[str]
    simulcast_targets: list[SimulcastTargetOut] = Field(default_factory=list)
    scheduled_start: UtcDateTime | None = None
    expected_viewers: int | None = None
    rtmp_url: str | None
    srt_url: str | None
    last_refusal: PublishRefusal | None = Field(
        None, description="Why the last publisher with a valid key was refused; null once one is admitted.")
    created_at: UtcDateTime


class LiveStreamList(BaseModel):
    data: list[LiveStreamOut]
    next_cursor: str | None
