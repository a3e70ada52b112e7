"""The metadata processor: turns MediaConvert Job State Change events into catalog state and webhooks.

It trusts the event only for what MediaConvert really sends (status, paths, durations, dimensions) and
reads the rest (bitrates, codecs, frame rates, sizes, images) from the outputs in the store, so real
MediaConvert jobs and the embedded ffmpeg encoder go through the same code.
"""

from __future__ import annotations

import logging
import math
import posixpath
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from streamstack.assets import service as assets
from streamstack.assets.models import Asset, LoudnessOut, Rendition
from streamstack.assets.tracks import publish_tracks
from streamstack.db.base import utcnow
from streamstack.db.session import session_scope
from streamstack.media.images import STORYBOARD_IMAGE_NAME, STORYBOARD_VTT_NAME, THUMBNAIL_NAME
from streamstack.observability import metrics
from streamstack.platform import Platform
from streamstack.storage.base import ObjectStore
from streamstack.storage.keys import LOUDNESS_NAME
from streamstack.webhooks.outbox import record_event

log = logging.getLogger("streamstack.events.metadata")

TERMINAL = ("ready", "errored")
PROGRESS_STATUSES = ("PROGRESSING", "INPUT_INFORMATION", "STATUS_UPDATE")
IMAGE_NAMES = {THUMBNAIL_NAME: "thumbnail", STORYBOARD_IMAGE_NAME: "storyboard_image",
               STORYBOARD_VTT_NAME: "storyboard_vtt"}
_ATTRIBUTE_RE = re.compile(r'([A-Z0-9-]+)=("[^"]*"|[^,]*)')


@dataclass(frozen=True)
class EncodedOutputs:
    """What a finished job produced, as read from its event and its objects."""

    duration: float | None
    renditions: list[Rendition]
    has_audio: bool
    images: dict[str, str]
    static_renditions: list[dict[str, Any]]
    loudness: dict[str, Any] | None = None


def process_job_state_change(platform: Platform, event: dict[str, Any]) -> None:
    """Apply one event; duplicates, stale attempts and events for deleted assets change nothing."""
    detail = event.get("detail") or {}
    status = detail.get("status")
    asset_id = (detail.get("userMetadata") or {}).get("asset_id")
    with metrics.observe_handler(f"mediaconvert.{str(status).lower()}"):
        if not asset_id:
            log.warning("job state change without userMetadata.asset_id dropped", extra={"job_id": detail.get("jobId")})
            return
        with session_scope(platform.sessions) as db_session:
            asset = assets.get_asset(db_session=db_session, asset_id=asset_id)
            if asset is None:
                log.info("job state change for an unknown asset dropped", extra={"asset_id": asset_id})
                return
            apply_status(db_session=db_session, platform=platform, asset=asset, detail=detail)


def apply_status(*, db_session: Session, platform: Platform, asset: Asset, detail: dict[str, Any]) -> None:
    """Route by detail.status; anything but COMPLETE, ERROR or a progress report is only logged."""
    status = detail.get("status")
    if status == "COMPLETE":
        complete_job(db_session=db_session, platform=platform, asset=asset, detail=detail)
    elif status == "ERROR":
        fail_job(db_session=db_session, platform=platform, asset=asset, detail=detail)
    elif status in PROGRESS_STATUSES:
        update_progress(db_session=db_session, asset=asset, detail=detail)
    else:
        log.info("job state change ignored", extra={"asset_id": asset.id, "status": status})


def complete_job(*, db_session: Session, platform: Platform, asset: Asset, detail: dict[str, Any]) -> None:
    """Store what the job produced and mark the asset ready; `video.asset.ready` commits with it."""
    if not is_current(asset, detail.get("jobId")):
        return
    outputs = read_outputs(platform.store, detail, bucket=platform.settings.s3_bucket)
    if not claim_terminal(db_session=db_session, asset=asset, job_id=detail.get("jobId"), status="ready"):
        return
    store_outputs(asset, outputs)
    if asset.tracks:  # text tracks added while it encoded join the master now
        publish_tracks(store=platform.store, asset=asset)
    asset.progress = 100.0
    asset.status = "ready"
    asset.ready_at = utcnow()
    asset.playable_at = asset.playable_at or asset.ready_at
    db_session.flush()
    record_event(db_session=db_session, type="video.asset.ready", object_type="asset", object_id=asset.id,
                 data=assets.asset_to_out(asset, platform.settings.edge_base_url).model_dump(mode="json"))


def store_outputs(asset: Asset, outputs: EncodedOutputs) -> None:
    """Renditions replace any earlier ones; the asset's summary fields follow its largest video rendition."""
    asset.renditions.clear()
    asset.renditions.extend(outputs.renditions)
    video = [r for r in outputs.renditions if r.width and r.height]
    top = max(video, key=lambda r: r.width * r.height, default=None)
    asset.duration = outputs.duration
    asset.max_width = top.width if top else None
    asset.max_height = top.height if top else None
    asset.max_frame_rate = max((r.frame_rate or 0.0 for r in video), default=None) or None
    asset.aspect_ratio = aspect_ratio(top.width, top.height) if top else None
    asset.has_audio = outputs.has_audio
    asset.images = outputs.images
    asset.static_renditions = outputs.static_renditions
    asset.loudness = outputs.loudness


def fail_job(*, db_session: Session, platform: Platform, asset: Asset, detail: dict[str, Any]) -> None:
    """Errored with the encoder's message as the reason; `video.asset.errored` commits with it."""
    job_id = detail.get("jobId")
    if not is_current(asset, job_id) or not claim_terminal(db_session=db_session, asset=asset, job_id=job_id,
                                                           status="errored"):
        return
    reason = str(detail.get("errorMessage") or f"encoding failed (error {detail.get('errorCode', 'unknown')})")
    assets.mark_errored(db_session=db_session, asset=asset, reason=reason,
                        edge_base_url=platform.settings.edge_base_url)


def is_current(asset: Asset, job_id: str | None) -> bool:
    """A finished asset, or an event from an attempt that a redelivery has replaced, changes nothing."""
    if asset.status in TERMINAL:
        log.info("job state change for a finished asset ignored", extra={"asset_id": asset.id})
        return False
    if asset.job_id and job_id != asset.job_id:
        log.info("job state change from a superseded attempt ignored",
                 extra={"asset_id": asset.id, "job_id": job_id, "current_job_id": asset.job_id})
        return False
    return True


def claim_terminal(*, db_session: Session, asset: Asset, job_id: str | None, status: str) -> bool:
    """A conditional UPDATE, so of two concurrent deliveries of one event exactly one goes on."""
    claimed = db_session.execute(
        update(Asset)
        .where(Asset.id == asset.id, Asset.status.not_in(TERMINAL),
               or_(Asset.job_id.is_(None), Asset.job_id == job_id))
        .values(status=status)
        .execution_options(synchronize_session=False)
    )
    return claimed.rowcount == 1  # type: ignore[attr-defined]


def update_progress(*, db_session: Session, asset: Asset, detail: dict[str, Any]) -> None:
    """MediaConvert's STATUS_UPDATE carries jobProgress.jobPercentComplete; progress never goes back."""
    percent = (detail.get("jobProgress") or {}).get("jobPercentComplete")
    if asset.status in TERMINAL or not isinstance(percent, int | float):
        return
    asset.progress = max(asset.progress or 0.0, min(float(percent), 100.0))


def read_outputs(store: ObjectStore, detail: dict[str, Any], *, bucket: str) -> EncodedOutputs:
    """Renditions from the HLS group's master playlist, images and static MP4s from the job's objects."""
    groups = detail.get("outputGroupDetails") or []
    hls = next((g for g in groups if g.get("type") == "HLS_GROUP"), None)
    if hls is None or not hls.get("playlistFilePaths"):
        raise ValueError("COMPLETE event without an HLS_GROUP playlist")
    master_key = object_key(hls["playlistFilePaths"][0], bucket)
    prefix = posixpath.dirname(master_key) + "/"
    sizes = {info.key: info.size for info in store.list(prefix)}
    master = read_text(store, master_key)
    renditions = [rendition_from_variant(store, sizes, master_key, attrs, uri)
                  for attrs, uri in parse_master_playlist(master)]
    return EncodedOutputs(
        duration=output_duration(groups),
        renditions=sorted(renditions, key=lambda r: (r.height, r.bitrate), reverse=True),
        has_audio="TYPE=AUDIO" in master or any("mp4a" in r.codecs for r in renditions),
        images={IMAGE_NAMES[name]: key for key in sizes if (name := posixpath.basename(key)) in IMAGE_NAMES},
        static_renditions=static_renditions(groups, sizes, bucket),
        loudness=read_loudness(store, prefix + LOUDNESS_NAME) if prefix + LOUDNESS_NAME in sizes else None,
    )


def read_loudness(store: ObjectStore, key: str) -> dict[str, Any] | None:
    """The encoder's loudness.json, checked against the API's shape (a damaged file is logged, not stored)."""
    try:
        return LoudnessOut.model_validate_json(read_text(store, key)).model_dump()
    except ValueError:
        log.warning("unreadable loudness measurement ignored", extra={"key": key})
        return None


def parse_master_playlist(text: str) -> list[tuple[dict[str, str], str]]:
    """(attributes, uri) of every EXT-X-STREAM-INF; quoted values are unquoted."""
    variants: list[tuple[dict[str, str], str]] = []
    pending: dict[str, str] | None = None
    for line in (raw.strip() for raw in text.splitlines()):
        if line.startswith("#EXT-X-STREAM-INF:"):
            pending = {k: v.strip('"') for k, v in _ATTRIBUTE_RE.findall(line.split(":", 1)[1])}
        elif line and not line.startswith("#") and pending is not None:
            variants.append((pending, line))
            pending = None
    return variants


def rendition_from_variant(store: ObjectStore, sizes: dict[str, int], master_key: str, attrs: dict[str, str],
                           uri: str) -> Rendition:
    """One Rendition row; its size is the sum of the objects its media playlist lists."""
    playlist_key = posixpath.normpath(posixpath.join(posixpath.dirname(master_key), uri))
    width, _, height = attrs.get("RESOLUTION", "").partition("x")
    return Rendition(
        name=posixpath.splitext(posixpath.basename(uri))[0],
        width=int(width) if width.isdigit() else 0,
        height=int(height) if height.isdigit() else 0,
        frame_rate=float(attrs["FRAME-RATE"]) if "FRAME-RATE" in attrs else None,
        bitrate=int(attrs.get("BANDWIDTH", 0)),
        average_bitrate=int(attrs["AVERAGE-BANDWIDTH"]) if "AVERAGE-BANDWIDTH" in attrs else None,
        codecs=attrs.get("CODECS", ""),
        playlist_key=playlist_key,
        size_bytes=media_playlist_size(read_text(store, playlist_key), playlist_key, sizes),
    )


def media_playlist_size(text: str, playlist_key: str, sizes: dict[str, int]) -> int:
    """Bytes of the init section and every segment a media playlist references."""
    base = posixpath.dirname(playlist_key)
    uris = re.findall(r'#EXT-X-MAP:URI="([^"]+)"', text)
    uris += [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]
    return sum(sizes.get(posixpath.normpath(posixpath.join(base, uri)), 0) for uri in dict.fromkeys(uris))


def output_duration(groups: list[dict[str, Any]]) -> float | None:
    """The longest output, as MediaConvert reports it (durationInMs)."""
    millis = [o.get("durationInMs") for g in groups for o in g.get("outputDetails") or []]
    valid = [m for m in millis if isinstance(m, int | float)]
    return round(max(valid) / 1000, 3) if valid else None


def static_renditions(groups: list[dict[str, Any]], sizes: dict[str, int], bucket: str) -> list[dict[str, Any]]:
    """Mux-style entries for every MP4 a FILE_GROUP wrote."""
    files = []
    for output in (o for g in groups if g.get("type") == "FILE_GROUP" for o in g.get("outputDetails") or []):
        for path in output.get("outputFilePaths") or []:
            key = object_key(path, bucket)
            if key.endswith(".mp4"):
                video = output.get("videoDetails") or {}
                files.append({"name": posixpath.basename(key), "ext": "mp4", "width": video.get("widthInPx"),
                              "height": video.get("heightInPx"), "filesize": sizes.get(key)})
    return files


def object_key(path: str, bucket: str) -> str:
    """`s3://bucket/key` to `key`; outputs outside our bucket are refused rather than read elsewhere."""
    scheme_prefix = f"s3://{bucket}/"
    if not path.startswith(scheme_prefix):
        raise ValueError(f"output {path!r} is not in bucket {bucket!r}")
    return path[len(scheme_prefix):]


def read_text(store: ObjectStore, key: str) -> str:
    return b"".join(store.get(key)).decode("utf-8")


def aspect_ratio(width: int, height: int) -> str:
    """Mux's form, e.g. `16:9`."""
    divisor = math.gcd(width, height) or 1
    return f"{width // divisor}:{height // divisor}"
