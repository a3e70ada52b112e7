"""Clips: a new VOD asset from a time range of a recording (live or finished) or of a segmented VOD asset.

`POST /v1/assets` with `"input": "streamstack://assets/{id}"` and `start_time`/`end_time` (seconds of
media time). The clip is cut at the source's segment boundaries, outward, so it holds the whole range;
its objects are copies of the covering segments and init segments, so it plays on its own, outlives
its source, and is ready as soon as the copies are made. No encoder runs.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from sqlalchemy.orm import Session

from streamstack.assets import service
from streamstack.assets.models import Asset, NewAssetSettings, Rendition
from streamstack.db.base import utcnow
from streamstack.media.clips import (
    NotClippable,
    SourcePlaylist,
    SourceSegment,
    clip_master,
    clip_playlist,
    covering,
    media_playlist_uris,
    parse_source_playlist,
    resolve,
)
from streamstack.storage.base import ObjectNotFound, ObjectStore, delete_prefix
from streamstack.storage.keys import MASTER_NAME, asset_object_key, asset_prefix
from streamstack.webhooks.outbox import record_event

CLIP_INPUT_PREFIX = "streamstack://assets/"
MIN_CLIP_SECONDS = 1.0
END_TOLERANCE = 0.05  # an end_time this close past the last segment's end is the end (rounded durations)
COPY_THREADS = 8
PLAYLIST_TYPE = "application/vnd.apple.mpegurl"


class ClipRefused(ValueError):
    """A clip request that cannot be served; `code` is stable for clients, the message says what to change."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class ClipRange:
    """What the clip holds: the cut (segment boundaries) and, per media playlist, the covering segments."""

    start: float
    end: float
    segments: dict[str, list[SourceSegment]]


def clip_source_id(input_url: str) -> str | None:
    """The asset a clip input names (`streamstack://assets/{id}`), None for any other input."""
    if not input_url.startswith(CLIP_INPUT_PREFIX):
        return None
    return input_url[len(CLIP_INPUT_PREFIX):].strip("/") or None


def clip_input(asset_id: str) -> str:
    """How a clip names its source (the clip's input_url)."""
    return f"{CLIP_INPUT_PREFIX}{asset_id}"


def create_clip(*, db_session: Session, store: ObjectStore, source_id: str, start_time: float | None,
                end_time: float | None, new_asset_settings: NewAssetSettings, edge_base_url: str) -> Asset:
    """Copy the covering segments into a new asset and mark it ready; `created` and `ready` events with it."""
    source = service.get_asset(db_session=db_session, asset_id=source_id)
    if source is None:
        raise ClipRefused("clip_source_not_found", f"asset {source_id!r} does not exist")
    if new_asset_settings.mp4_support != "none":
        raise ClipRefused("clip_mp4_unsupported", "a clip has no static MP4 yet; leave mp4_support out")
    master, playlists = _read_source(store, source)
    cut = plan_clip(playlists, start_time, end_time, live=source.status != "ready")
    clip = service.create_asset(db_session=db_session, new_asset_settings=new_asset_settings,
                                input_url=clip_input(source.id), edge_base_url=edge_base_url)  # fmt: skip
    if clip.title is None:
        clip.title = f"{source.title or source.id} [{cut.start:.1f}-{cut.end:.1f}s]"
    try:
        sizes = _copy_objects(store, source.id, clip.id, cut)
        for uri, segments in cut.segments.items():
            body = clip_playlist(playlists[uri], segments).encode()
            store.put(asset_object_key(clip.id, uri), [body], content_type=PLAYLIST_TYPE)
        store.put(asset_object_key(clip.id, MASTER_NAME), [clip_master(master).encode()], content_type=PLAYLIST_TYPE)
    except BaseException:
        delete_prefix(store, asset_prefix(clip.id))
        raise
    _describe(clip, source, sizes)
    clip.status, clip.progress, clip.duration = "ready", 100.0, round(cut.end - cut.start, 3)
    clip.playable_at = clip.ready_at = utcnow()
    db_session.flush()
    record_event(db_session=db_session, type="video.asset.ready", object_type="asset", object_id=clip.id,
                 data=service.asset_to_out(clip, edge_base_url).model_dump(mode="json"))
    return clip


def plan_clip(playlists: dict[str, SourcePlaylist], start_time: float | None, end_time: float | None, *,
              live: bool) -> ClipRange:
    """Check the range against what every playlist holds now, and cut it at the first variant's boundaries."""
    available = min(p.duration for p in playlists.values())
    start = 0.0 if start_time is None else start_time
    end = available if end_time is None else end_time
    if start >= end:
        raise ClipRefused("clip_range_invalid", f"start_time ({start:g}) must be before end_time ({end:g})")
    if end - start < MIN_CLIP_SECONDS:
        raise ClipRefused("clip_range_too_short", f"a clip lasts at least {MIN_CLIP_SECONDS:g} s; "
                          f"{start:g}-{end:g} is {end - start:g} s")  # fmt: skip
    if end > available + END_TOLERANCE:
        where = "the live edge: the recording holds" if live else "the end of the asset, which lasts"
        raise ClipRefused("clip_range_outside", f"end_time ({end:g}) is beyond {where} {available:.3f} s")
    reference = playlists[next(iter(playlists))]
    cut = covering(reference, start, end)
    first, last = cut[0].start, cut[-1].end
    return ClipRange(first, last, {uri: covering(p, first, last) for uri, p in playlists.items()})


def _read_source(store: ObjectStore, source: Asset) -> tuple[str, dict[str, SourcePlaylist]]:
    """The source's master and its media playlists (first video variant first), as they are now."""
    if not source.renditions or source.status not in ("preparing", "ready"):
        raise ClipRefused("clip_source_not_segmented",
                          f"asset {source.id!r} has no segments to clip (status {source.status})")
    try:
        master = _text(store, asset_object_key(source.id, MASTER_NAME))
        uris = sorted(media_playlist_uris(master), key=lambda u: not _is_variant(master, u))
        paths = [resolve(MASTER_NAME, uri) for uri in uris]  # the clip's master names them as the source's did
        playlists = {path: parse_source_playlist(_text(store, asset_object_key(source.id, path))) for path in paths}
    except ObjectNotFound as exc:
        raise ClipRefused("clip_source_not_segmented", f"asset {source.id!r} has no segments to clip yet") from exc
    except NotClippable as exc:
        raise ClipRefused("clip_source_not_segmented", f"asset {source.id!r} cannot be clipped: {exc}") from exc
    if not playlists or any(not p.segments for p in playlists.values()):
        raise ClipRefused("clip_source_not_segmented", f"asset {source.id!r} has no complete segments yet")
    return master, playlists


def _is_variant(master: str, uri: str) -> bool:
    lines = master.splitlines()
    return any(line.startswith("#EXT-X-STREAM-INF:") and lines[i + 1].strip() == uri
               for i, line in enumerate(lines[:-1]))  # fmt: skip


def _copy_objects(store: ObjectStore, source_id: str, clip_id: str, cut: ClipRange) -> dict[str, int]:
    """Copy every covering segment and init segment (in parallel); bytes copied per media playlist."""
    names: dict[str, set[str]] = {}
    for uri, segments in cut.segments.items():
        wanted = {resolve(uri, s.uri) for s in segments} | {resolve(uri, s.init_uri) for s in segments if s.init_uri}
        names[uri] = wanted
    unique = sorted(set().union(*names.values()))
    with ThreadPoolExecutor(COPY_THREADS) as pool:
        sizes = dict(zip(unique, pool.map(lambda name: _copy(store, source_id, clip_id, name), unique), strict=True))
    return {uri: sum(sizes[name] for name in wanted) for uri, wanted in names.items()}


def _copy(store: ObjectStore, source_id: str, clip_id: str, name: str) -> int:
    source_key = asset_object_key(source_id, name)
    content_type = store.head(source_key).content_type
    return store.put(asset_object_key(clip_id, name), store.get(source_key), content_type=content_type).size


def _describe(clip: Asset, source: Asset, sizes: dict[str, int]) -> None:
    """The clip's renditions and picture are the source's; each rendition's size is what was copied for it."""
    clip.max_width, clip.max_height, clip.max_frame_rate = source.max_width, source.max_height, source.max_frame_rate
    clip.aspect_ratio, clip.has_audio = source.aspect_ratio, source.has_audio
    source_root = asset_prefix(source.id)
    for r in source.renditions:
        relative = r.playlist_key.removeprefix(source_root)
        clip.renditions.append(Rendition(
            name=r.name, width=r.width, height=r.height, frame_rate=r.frame_rate, bitrate=r.bitrate,
            average_bitrate=r.average_bitrate, codecs=r.codecs,
            playlist_key=asset_object_key(clip.id, relative), size_bytes=sizes.get(relative)))  # fmt: skip


def _text(store: ObjectStore, key: str) -> str:
    return b"".join(store.get(key)).decode("utf-8")

