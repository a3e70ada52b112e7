"""Assets, their renditions and playback ids: tables and API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import JSON, BigInteger, DateTime, Float, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from streamstack.db.base import Base, Timestamped
from streamstack.timestamps import UtcDateTime

AssetStatus = Literal["waiting", "preparing", "ready", "errored"]
PlaybackPolicy = Literal["public", "signed"]
Mp4Support = Literal["none", "standard", "capped-1080p"]


class Asset(Timestamped, Base):
    __tablename__ = "assets"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    status: Mapped[str] = mapped_column(String(16), default="waiting", index=True)
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    duration: Mapped[float | None] = mapped_column(Float)
    max_width: Mapped[int | None] = mapped_column(Integer)
    max_height: Mapped[int | None] = mapped_column(Integer)
    max_frame_rate: Mapped[float | None] = mapped_column(Float)
    aspect_ratio: Mapped[str | None] = mapped_column(String(16))
    has_audio: Mapped[bool | None] = mapped_column()
    mp4_support: Mapped[str] = mapped_column(String(16), default="none")
    passthrough: Mapped[str | None] = mapped_column(String(255))
    title: Mapped[str | None] = mapped_column(String(512))
    creator_id: Mapped[str | None] = mapped_column(String(128), index=True)
    external_id: Mapped[str | None] = mapped_column(String(128), index=True)
    input_url: Mapped[str | None] = mapped_column(Text)
    source_key: Mapped[str | None] = mapped_column(String(255))
    source_size: Mapped[int | None] = mapped_column(BigInteger)
    job_id: Mapped[str | None] = mapped_column(String(64))
    encode_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    errors: Mapped[list[str]] = mapped_column(JSON, default=list)
    images: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    normalize_audio: Mapped[bool | None] = mapped_column()
    ladder: Mapped[str | None] = mapped_column(String(8))
    loudness: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    static_renditions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    encoding_started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    playable_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    ready_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    renditions: Mapped[list[Rendition]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="Rendition.height.desc()"
    )
    playback_ids: Mapped[list[PlaybackId]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="PlaybackId.created_at"
    )
    tracks: Mapped[list[Track]] = relationship(
        back_populates="asset", cascade="all, delete-orphan", order_by="Track.id"
    )


class Rendition(Base):
    __tablename__ = "renditions"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(32))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    frame_rate: Mapped[float | None] = mapped_column(Float)
    bitrate: Mapped[int] = mapped_column(Integer)
    average_bitrate: Mapped[int | None] = mapped_column(Integer)
    codecs: Mapped[str] = mapped_column(String(64))
    playlist_key: Mapped[str] = mapped_column(String(255))
    size_bytes: Mapped[int | None] = mapped_column(BigInteger)

    asset: Mapped[Asset] = relationship(back_populates="renditions")


class PlaybackId(Timestamped, Base):
    __tablename__ = "playback_ids"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    asset_id: Mapped[str | None] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    # a live stream's playback id: no foreign key, so assets never depend on the live domain's table
    live_stream_id: Mapped[str | None] = mapped_column(String(40), index=True)
    policy: Mapped[str] = mapped_column(String(8), default="public")

    asset: Mapped[Asset | None] = relationship(back_populates="playback_ids")


class Track(Timestamped, Base):
    """A text track (subtitles or captions) of an asset; its WebVTT lives in the object store."""

    __tablename__ = "tracks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    type: Mapped[str] = mapped_column(String(8), default="text")
    text_type: Mapped[str] = mapped_column(String(16), default="subtitles")
    language_code: Mapped[str] = mapped_column(String(35))
    name: Mapped[str] = mapped_column(String(255))
    closed_captions: Mapped[bool] = mapped_column(default=False)
    source_format: Mapped[str] = mapped_column(String(8))
    cue_count: Mapped[int] = mapped_column(Integer)
    passthrough: Mapped[str | None] = mapped_column(String(255))

    asset: Mapped[Asset] = relationship(back_populates="tracks")


DEFAULT_POLICY: tuple[PlaybackPolicy, ...] = ("public",)
TITLE_MAX = 512  # Mux's limits, so metadata that fits there fits here
ID_MAX = 128


class AssetMeta(BaseModel):
    """Mux's `meta`: a human title and the integrator's own ids, searchable and filterable in the list."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    title: str | None = Field(None, max_length=TITLE_MAX, description="Shown in the console; "
                              "an upload's file name when not given.")
    creator_id: str | None = Field(None, max_length=ID_MAX, description="Who made it, in your system.")
    external_id: str | None = Field(None, max_length=ID_MAX, description="The asset's id in your system.")


class NewAssetSettings(BaseModel):
    """Mux's names, so integrators' habits carry over."""

    playback_policy: list[PlaybackPolicy] = Field(default_factory=lambda: list(DEFAULT_POLICY), max_length=2)
    mp4_support: Mp4Support = "none"
    passthrough: str | None = Field(None, max_length=255)
    meta: AssetMeta = Field(default_factory=AssetMeta)
    ladder: Literal["fixed", "auto"] | None = Field(
        None, description="auto: each rung priced by a short content analysis (probe encodes scored with VMAF), "
        "rungs adding little dropped; unset follows STREAMSTACK_LADDER_MODE.")
    normalize_audio: bool | None = Field(
        None, description="EBU R128 loudness normalisation of the audio (to STREAMSTACK_LOUDNESS_TARGET_LUFS, "
        "-23 LUFS by default); unset follows STREAMSTACK_NORMALIZE_AUDIO.")


class AssetCreate(NewAssetSettings):
    input: str = Field(..., max_length=4096, description="http(s) URL to import the source from; or "
                       "streamstack://assets/{id} to clip that asset (with start_time and end_time).")
    start_time: float | None = Field(None, ge=0, allow_inf_nan=False, description="Clips only: seconds into "
                                     "the source; the clip starts at the segment boundary at or before it (0).")
    end_time: float | None = Field(None, gt=0, allow_inf_nan=False, description="Clips only: seconds into the "
                                   "source; the clip ends at the segment boundary at or after it (the end, or "
                                   "a live recording's live edge).")


class AssetUpdate(BaseModel):
    """PATCH body: only the fields sent change; a meta field sent as null is cleared."""

    model_config = ConfigDict(extra="forbid")

    meta: AssetMeta | None = None
    passthrough: str | None = Field(None, max_length=255)


LANGUAGE_TAG = r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{1,8})*$"  # BCP 47, as HLS LANGUAGE wants it


class TrackCreate(BaseModel):
    """Mux's track body; the caption file comes from `url`, or as the `file` part of a multipart form."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    type: Literal["text"] = "text"
    text_type: Literal["subtitles"] = "subtitles"
    language_code: str = Field(..., max_length=35, pattern=LANGUAGE_TAG, description="BCP 47, e.g. en or pt-BR.")
    name: str | None = Field(None, min_length=1, max_length=255, pattern=r"^[^\x00-\x1f\x7f]*$",
                             description="Shown in the player's menu; the language code when not given.")
    closed_captions: bool = Field(False, description="Describes sounds too (SDH), not only dialogue.")
    passthrough: str | None = Field(None, max_length=255)
    url: str | None = Field(None, max_length=4096, description="http(s) URL of a WebVTT or SRT file.")


class TrackOut(BaseModel):
    id: str
    type: Literal["text"]
    text_type: Literal["subtitles"]
    language_code: str
    name: str
    closed_captions: bool
    passthrough: str | None
    status: Literal["ready"] = "ready"
    source_format: Literal["webvtt", "srt"]
    cue_count: int


class LoudnessOut(BaseModel):
    """Integrated loudness (EBU R128 / ITU BS.1770) of the audio rendition as encoded."""

    integrated_lufs: float | None = Field(description="Measured on the encoded audio; null for silence.")
    source_integrated_lufs: float | None = Field(None, description="The source's, when an analysis pass ran.")
    target_lufs: float | None = Field(None, description="The normalisation target; null when not normalised.")
    method: Literal["none", "linear", "dynamic"] = Field(
        "none", description="linear: one gain from a two-pass analysis; dynamic: single-pass loudnorm.")


class PlaybackIdOut(BaseModel):
    id: str
    policy: PlaybackPolicy
    url: str


class RenditionOut(BaseModel):
    name: str
    width: int
    height: int
    frame_rate: float | None
    bitrate: int
    average_bitrate: int | None
    codecs: str
    size_bytes: int | None


class AssetOut(BaseModel):
    id: str
    status: AssetStatus
    progress: float = Field(description="0-100; never goes back, a retry resumes from the progress already shown.")
    encode_attempts: int = Field(0, description="Encode attempts started; more than 1 after a worker was lost.")
    retrying: bool = Field(False, description="True while an encode that was interrupted runs again.")
    duration: float | None
    max_width: int | None
    max_height: int | None
    max_frame_rate: float | None
    aspect_ratio: str | None
    mp4_support: Mp4Support
    passthrough: str | None
    meta: AssetMeta
    ladder: Literal["fixed", "auto"] | None
    normalize_audio: bool | None
    loudness: LoudnessOut | None
    errors: list[str]
    renditions: list[RenditionOut]
    playback_ids: list[PlaybackIdOut]
    tracks: list[TrackOut]
    static_renditions: list[dict[str, Any]]
    created_at: UtcDateTime
    playable_at: UtcDateTime | None
    ready_at: UtcDateTime | None


class AssetList(BaseModel):
    data: list[AssetOut]
    next_cursor: str | None
