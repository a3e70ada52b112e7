"""Direct uploads (tus 1.0 resources that become assets): table and API schemas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import JSON, BigInteger, DateTime, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from streamstack.assets.models import NewAssetSettings
from streamstack.db.base import MAX_BIGINT, Base, Timestamped


class Upload(Timestamped, Base):
    __tablename__ = "uploads"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    asset_id: Mapped[str] = mapped_column(ForeignKey("assets.id", ondelete="CASCADE"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="waiting")
    length: Mapped[int | None] = mapped_column(BigInteger)
    offset: Mapped[int] = mapped_column(BigInteger, default=0)
    tus_metadata: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class UploadCreate(BaseModel):
    new_asset_settings: NewAssetSettings = Field(default_factory=NewAssetSettings)
    size: int | None = Field(None, ge=0, le=MAX_BIGINT,
                             description="File size in bytes: fixes the tus length, sizes S3 parts.")


class UploadOut(BaseModel):
    id: str
    asset_id: str
    url: str
    status: str
    multipart: dict[str, Any] | None = Field(
        None, description="aws shape: presigned S3 multipart session (uploads.s3_multipart.MultipartSession).")
