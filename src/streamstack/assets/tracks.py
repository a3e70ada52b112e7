"""Text tracks: accept a caption file, keep it as WebVTT, publish it into the asset's HLS once it is ready.

The converted WebVTT is kept under `tracks/{asset_id}/` (outside the encoder's output prefix, which a
re-encode cleans), and copied next to the renditions with its playlist whenever the set of tracks or
the encode changes; the master is then rewritten from the catalog's list, so it always converges.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from streamstack.assets.imports import stream_url
from streamstack.assets.models import Asset, Track, TrackCreate
from streamstack.assets.service import asset_to_out, track_to_out
from streamstack.db.base import new_id
from streamstack.media.captions import MAX_CAPTION_BYTES, CaptionError, parse_captions, to_webvtt
from streamstack.media.subtitles import TEXT_PREFIX, TIMESTAMP_MAP, SubtitleRendition, subtitle_playlist, with_subtitles
from streamstack.outbound import UrlRefused, check_url
from streamstack.settings import Settings
from streamstack.storage.base import ObjectNotFound, ObjectStore
from streamstack.storage.keys import asset_prefix, master_key, track_source_key
from streamstack.webhooks.outbox import record_event

MAX_TRACKS_PER_ASSET = 30
VTT = "text/vtt"
PLAYLIST = "application/vnd.apple.mpegurl"


class TrackRefused(ValueError):
    """The track cannot be added; `code` is machine-readable and `status` the HTTP answer."""

    def __init__(self, code: str, message: str, status: int = 422) -> None:
        super().__init__(message)
        self.code, self.status = code, status


def fetch_caption_file(url: str, settings: Settings) -> bytes:
    """Download a caption file with the import rules (public addresses only), refusing oversized files."""
    data = bytearray()
    try:
        check_url(url, settings)
        for chunk in stream_url(url, settings, chunk_size=64 << 10):
            data += chunk
            if len(data) > MAX_CAPTION_BYTES:
                raise TrackRefused("too_large", f"The caption file is larger than {MAX_CAPTION_BYTES} bytes.", 413)
    except UrlRefused as exc:
        raise TrackRefused("url_refused", f"The caption URL was refused: {exc}.") from exc
    except OSError as exc:  # httpx transport errors are OSErrors underneath; say what failed, not where
        raise TrackRefused("url_unreachable", f"The caption URL could not be fetched ({type(exc).__name__}).") \
            from exc
    return bytes(data)


def create_track(*, db_session: Session, store: ObjectStore, asset: Asset, body: TrackCreate, data: bytes,
                 edge_base_url: str = "") -> Track:
    """Check and convert the file, store it, publish it if the asset plays already; commits nothing itself."""
    if asset.status == "errored":
        raise TrackRefused("asset_errored", "The asset failed to encode; it cannot get tracks.", 409)
    if len(asset.tracks) >= MAX_TRACKS_PER_ASSET:
        raise TrackRefused("too_many_tracks", f"An asset has at most {MAX_TRACKS_PER_ASSET} text tracks.", 409)
    try:
        captions = parse_captions(data)
    except CaptionError as exc:
        raise TrackRefused(exc.code, str(exc), 413 if exc.code == "too_large" else 422) from exc
    track = Track(id=new_id("tr_"), type=body.type, text_type=body.text_type, language_code=body.language_code,
                  name=body.name or body.language_code, closed_captions=body.closed_captions,
                  source_format=captions.format, cue_count=len(captions.cues), passthrough=body.passthrough)
    store.put(track_source_key(asset.id, track.id), [to_webvtt(captions).encode()], content_type=VTT)
    asset.tracks.append(track)
    db_session.flush()
    if asset.status == "ready":
        publish_tracks(store=store, asset=asset)
    record_event(db_session=db_session, type="video.asset.track.ready", object_type="track", object_id=track.id,
                 data={"asset_id": asset.id, **track_to_out(track).model_dump(mode="json")})
    record_event(db_session=db_session, type="video.asset.updated", object_type="asset", object_id=asset.id,
                 data=asset_to_out(asset, edge_base_url).model_dump(mode="json"))
    return track


def delete_track(*, db_session: Session, store: ObjectStore, asset: Asset, track: Track) -> None:
    """The master stops listing it before its files go; commits nothing itself."""
    asset.tracks.remove(track)
    db_session.flush()
    if asset.status == "ready":
        publish_tracks(store=store, asset=asset)
    store.delete(track_source_key(asset.id, track.id))
    record_event(db_session=db_session, type="video.asset.track.deleted", object_type="track", object_id=track.id,
                 data={"asset_id": asset.id, "id": track.id})


def publish_tracks(*, store: ObjectStore, asset: Asset) -> None:
    """Track files first, then the master that lists them, then files of tracks no longer listed."""
    prefix = asset_prefix(asset.id)
    renditions = [SubtitleRendition(t.id, t.name, t.language_code, t.closed_captions) for t in asset.tracks]
    published = set()
    for rendition in renditions:
        vtt = b"".join(store.get(track_source_key(asset.id, rendition.track_id))).decode()
        mapped = vtt.replace("WEBVTT\n", f"WEBVTT\n{TIMESTAMP_MAP}\n", 1)
        store.put(prefix + rendition.segment, [mapped.encode()], content_type=VTT)
        playlist = subtitle_playlist(rendition.segment, asset.duration or 0.0)
        store.put(prefix + rendition.playlist, [playlist.encode()], content_type=PLAYLIST)
        published |= {prefix + rendition.segment, prefix + rendition.playlist}
    try:
        master = b"".join(store.get(master_key(asset.id))).decode()
    except ObjectNotFound:
        return  # nothing plays yet: the encode's completion publishes the tracks
    store.put(master_key(asset.id), [with_subtitles(master, renditions).encode()], content_type=PLAYLIST)
    for info in list(store.list(prefix + TEXT_PREFIX)):
        if info.key not in published:
            store.delete(info.key)
