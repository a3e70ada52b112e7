"""The catalog side of an encode: which asset to encode, and what the job tells the catalog while it runs.

The encoder itself (`platform.encoder`, ffmpeg or MediaConvert) lives in `media.encoder`; this module
hands it the asset's source and a `CatalogTracker` that records the attempt, its progress and the
moment the asset became playable.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

from sqlalchemy import update

from streamstack.assets import service as assets
from streamstack.assets.models import Asset
from streamstack.db.base import utcnow
from streamstack.db.session import session_scope
from streamstack.media.encoder import EncodeRequest, MediaError
from streamstack.media.options import EncodeOptions
from streamstack.observability import metrics
from streamstack.platform import Platform
from streamstack.storage.keys import source_key

log = logging.getLogger("streamstack.events.encoding")

PROGRESS_MIN_SECONDS = 1.0
TERMINAL = ("ready", "errored")


def run_encode_job(platform: Platform, *, asset_id: str) -> str | None:
    """Start the asset's encode with the platform's encoder; a source it refuses errors the asset with the reason.

    Returns the job id, or None when the asset is gone, finished, or no encoder is configured.
    """
    request = encode_request(platform, asset_id)
    if request is None:
        return None
    if platform.encoder is None:
        error_asset(platform, asset_id, "no encoder configured")
        return None
    try:
        job_id = platform.encoder.start(request, CatalogTracker(platform, asset_id))
    except MediaError as exc:
        error_asset(platform, asset_id, exc.message)
        return None
    if job_id is not None:
        log.info("encode job started", extra={"asset_id": asset_id, "job_id": job_id,
                                               "encoder": platform.encoder.name})
    return job_id


def encode_request(platform: Platform, asset_id: str) -> EncodeRequest | None:
    """What the encoder needs from the catalog, read once so the encode holds no transaction open."""
    with session_scope(platform.sessions) as db_session:
        asset = db_session.get(Asset, asset_id)
        if asset is None or asset.status in TERMINAL:
            log.info("encode skipped", extra={"asset_id": asset_id})
            return None
        normalize = platform.settings.normalize_audio if asset.normalize_audio is None else asset.normalize_audio
        ladder = asset.ladder or platform.settings.ladder_mode
        options = EncodeOptions(mp4_support=asset.mp4_support or "none", normalize_audio=normalize,
                                ladder="auto" if ladder == "auto" else "fixed")
        return EncodeRequest(asset_id=asset.id, source_key=source_key(asset.id), options=options)


def error_asset(platform: Platform, asset_id: str, reason: str) -> None:
    with session_scope(platform.sessions) as db_session:
        asset = assets.get_asset(db_session=db_session, asset_id=asset_id)
        if asset is not None:
            assets.mark_errored(db_session=db_session, asset=asset, reason=reason,
                                edge_base_url=platform.settings.edge_base_url)


class CatalogTracker:
    """Records one attempt; progress is written at most once a second (and always the final 100)."""

    def __init__(self, platform: Platform, asset_id: str) -> None:
        self.platform = platform
        self.asset_id = asset_id
        self.job_id: str | None = None
        self.started_at: datetime | None = None
        self.last_write = float("-inf")

    def started(self, job_id: str) -> bool:
        """New job id, start time and one more attempt; an earlier attempt's playable time is reset but its
        progress is kept: a retry shows `retrying` and moves on from there, never back to 0."""
        with session_scope(self.platform.sessions) as db_session:
            asset = db_session.get(Asset, self.asset_id)
            if asset is None or asset.status in TERMINAL:
                log.info("encode skipped", extra={"asset_id": self.asset_id})
                return False
            asset.job_id = self.job_id = job_id
            asset.encoding_started_at = self.started_at = utcnow()
            asset.status = "preparing"
            asset.encode_attempts = (asset.encode_attempts or 0) + 1
            asset.playable_at = None  # an earlier attempt's outputs are being replaced
            return True

    def progress(self, percent: float) -> None:
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

    def playable(self) -> None:
        """Players can start now, long before the ladder ends."""
        now = utcnow()
        with session_scope(self.platform.sessions) as db_session:
            db_session.execute(
                update(Asset)
                .where(Asset.id == self.asset_id, Asset.job_id == self.job_id, Asset.playable_at.is_(None))
                .values(playable_at=now)
                .execution_options(synchronize_session=False)
            )
        if self.started_at is not None:
            metrics.observe_time_to_playable((now - self.started_at).total_seconds())
