"""Asset lifecycle: create, read, list, transition, delete (with the asset's objects)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from streamstack.assets.models import (
    TITLE_MAX,
    Asset,
    AssetMeta,
    AssetOut,
    AssetUpdate,
    LoudnessOut,
    NewAssetSettings,
    PlaybackId,
    PlaybackIdOut,
    RenditionOut,
    Track,
    TrackOut,
)
from streamstack.db.base import new_id, utcnow
from streamstack.db.pagination import decode_cursor, page
from streamstack.storage.base import ObjectStore, delete_prefix
from streamstack.storage.keys import asset_prefix, source_key, tracks_prefix
from streamstack.webhooks.outbox import record_event


def create_asset(*, db_session: Session, new_asset_settings: NewAssetSettings, input_url: str | None = None,
                 edge_base_url: str = "", file_name: str | None = None) -> Asset:
    """A waiting asset with its playback ids, titled by file_name if not by meta; `video.asset.created` with it."""
    asset = Asset(
        id=new_id("as_"), status="waiting", progress=0.0, input_url=input_url,
        mp4_support=new_asset_settings.mp4_support, passthrough=new_asset_settings.passthrough,
        normalize_audio=new_asset_settings.normalize_audio, ladder=new_asset_settings.ladder,
        errors=[], images={}, static_renditions=[],
    )
    set_meta(asset, new_asset_settings.meta)
    default_title(asset, file_name)
    for policy in dict.fromkeys(new_asset_settings.playback_policy):
        asset.playback_ids.append(PlaybackId(id=new_id("pb_"), policy=policy))
    db_session.add(asset)
    db_session.flush()
    record_event(db_session=db_session, type="video.asset.created", object_type="asset", object_id=asset.id,
                 data=asset_to_out(asset, edge_base_url).model_dump(mode="json"))
    return asset


def get_asset(*, db_session: Session, asset_id: str) -> Asset | None:
    return db_session.scalar(
        select(Asset).where(Asset.id == asset_id).options(selectinload(Asset.renditions),
                                                           selectinload(Asset.playback_ids),
                                                           selectinload(Asset.tracks))
    )


def list_assets(*, db_session: Session, limit: int = 25, cursor: str | None = None, status: str | None = None,
                creator_id: str | None = None, external_id: str | None = None,
                title: str | None = None) -> tuple[list[Asset], str | None]:
    """Newest first; the cursor is the last id seen, opaque to clients. `title` matches a substring, any case."""
    query = select(Asset).options(selectinload(Asset.renditions), selectinload(Asset.playback_ids),
                                  selectinload(Asset.tracks))
    if status:
        query = query.where(Asset.status == status)
    if creator_id is not None:
        query = query.where(Asset.creator_id == creator_id)
    if external_id is not None:
        query = query.where(Asset.external_id == external_id)
    if title:
        query = query.where(Asset.title.icontains(title, autoescape=True))
    if cursor:
        query = query.where(Asset.id < decode_cursor(cursor, prefix="as_"))
    return page(db_session, query.order_by(Asset.id.desc()), limit, lambda asset: asset.id)


def set_meta(asset: Asset, meta: AssetMeta, *, only_sent: bool = False) -> None:
    """Copy meta onto the row; with only_sent (PATCH) fields the client left out keep their value."""
    fields = meta.model_fields_set if only_sent else AssetMeta.model_fields.keys()
    for name in fields:
        setattr(asset, name, getattr(meta, name))


def default_title(asset: Asset, file_name: str | None) -> None:
    """An upload's file name (without folders) titles an asset its creator did not name."""
    name = (file_name or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    if asset.title is None and name:
        asset.title = name[:TITLE_MAX]


def update_asset(*, db_session: Session, asset: Asset, update: AssetUpdate, edge_base_url: str = "") -> Asset:
    """PATCH semantics; `video.asset.updated` commits with the change."""
    if update.meta is not None:
        set_meta(asset, update.meta, only_sent=True)
    if "passthrough" in update.model_fields_set:
        asset.passthrough = update.passthrough
    db_session.flush()
    record_event(db_session=db_session, type="video.asset.updated", object_type="asset", object_id=asset.id,
                 data=asset_to_out(asset, edge_base_url).model_dump(mode="json"))
    return asset


def mark_preparing(*, db_session: Session, asset: Asset, source_size: int) -> None:
    asset.status = "preparing"
    asset.source_key = source_key(asset.id)
    asset.source_size = source_size


def mark_errored(*, db_session: Session, asset: Asset, reason: str, edge_base_url: str = "") -> None:
    """Errored with a reason the user can act on; `video.asset.errored` commits with it."""
    if asset.status == "errored" and reason in asset.errors:
        return
    asset.status = "errored"
    asset.errors = [*asset.errors, reason]
    record_event(db_session=db_session, type="video.asset.errored", object_type="asset", object_id=asset.id,
                 data=asset_to_out(asset, edge_base_url).model_dump(mode="json"))


def add_static_rendition(*, db_session: Session, asset_id: str, rendition: dict[str, Any],
                         edge_base_url: str = "") -> None:
    """A static MP4 made after the asset was ready (a live recording's): `video.asset.static_renditions.ready`."""
    asset = get_asset(db_session=db_session, asset_id=asset_id)
    if asset is None:
        return
    asset.static_renditions = [*(r for r in asset.static_renditions or [] if r.get("name") != rendition["name"]),
                               rendition]  # fmt: skip
    record_event(db_session=db_session, type="video.asset.static_renditions.ready", object_type="asset",
                 object_id=asset.id, data=asset_to_out(asset, edge_base_url).model_dump(mode="json"))
    db_session.commit()


def delete_asset(*, db_session: Session, store: ObjectStore, asset: Asset) -> None:
    """Objects first: a failure leaves the row, so the delete can be retried and nothing is orphaned."""
    delete_prefix(store, asset_prefix(asset.id))
    delete_prefix(store, tracks_prefix(asset.id))
    store.delete(source_key(asset.id))
    record_event(db_session=db_session, type="video.asset.deleted", object_type="asset", object_id=asset.id,
                 data={"id": asset.id})
    db_session.delete(asset)
    db_session.commit()


def playback_url(edge_base_url: str, playback_id: str) -> str:
    return f"{edge_base_url}/{playback_id}.m3u8"


def asset_to_out(asset: Asset, edge_base_url: str) -> AssetOut:
    return AssetOut(
        id=asset.id, status=asset.status, progress=round(asset.progress or 0.0, 1), duration=asset.duration,  # type: ignore[arg-type]
        encode_attempts=asset.encode_attempts or 0,
        retrying=asset.status == "preparing" and (asset.encode_attempts or 0) > 1,
        max_width=asset.max_width, max_height=asset.max_height, max_frame_rate=asset.max_frame_rate,
        aspect_ratio=asset.aspect_ratio, mp4_support=asset.mp4_support,  # type: ignore[arg-type]
        passthrough=asset.passthrough, errors=list(asset.errors or []),
        meta=AssetMeta(title=asset.title, creator_id=asset.creator_id, external_id=asset.external_id),
        normalize_audio=asset.normalize_audio, ladder=asset.ladder,  # type: ignore[arg-type]
        loudness=LoudnessOut.model_validate(asset.loudness) if asset.loudness else None,
        renditions=[RenditionOut.model_validate(r, from_attributes=True) for r in asset.renditions],
        playback_ids=[
            PlaybackIdOut(id=p.id, policy=p.policy, url=playback_url(edge_base_url, p.id))  # type: ignore[arg-type]
            for p in asset.playback_ids
        ],
        tracks=[track_to_out(t) for t in asset.tracks],
        static_renditions=list(asset.static_renditions or []),
        created_at=asset.created_at or utcnow(), playable_at=asset.playable_at, ready_at=asset.ready_at,
    )



def track_to_out(track: Track) -> TrackOut:
    return TrackOut.model_validate(track, from_attributes=True)
