"""The object-key layout, in one place: where a source lands, where an asset's outputs go, and the parse back.

    sources/{asset_id}                  the uploaded or imported source (its ObjectCreated event starts the encode)
    assets/{asset_id}/master.m3u8       the HLS master playlist
    assets/{asset_id}/{name}            renditions, segments, images, static MP4s and published text tracks
    assets/{asset_id}/loudness.json     measured loudness of the audio rendition
    tracks/{asset_id}/{track_id}.vtt    a text track's WebVTT as accepted (outside the prefix an encode rewrites)

A live session records into its asset's prefix, so live-to-VOD moves nothing:
    assets/{asset_id}/live.m3u8             LL-HLS master (the live stream's playback ids, latency_mode low)
    assets/{asset_id}/live_standard.m3u8    standard live master (latency_mode standard)
    assets/{asset_id}/master.m3u8           the recording (the asset's playback ids): EVENT while live, then VOD
    assets/{asset_id}/{rendition}/          init{n}.mp4, {msn}.{part}.m4s parts, {msn}.m4s segments, playlists

A session that is not recorded (no new_asset_settings) lives below its stream and start instead, only its
DVR window is kept, and the whole prefix goes when the session ends:
    live/{live_stream_id}/{started}/        live.m3u8, live_standard.m3u8, {rendition}/... as above
"""

from __future__ import annotations

from datetime import UTC, datetime

SOURCES_PREFIX = "sources/"
ASSETS_PREFIX = "assets/"
TRACKS_PREFIX = "tracks/"
LIVE_PREFIX = "live/"
MASTER_NAME = "master.m3u8"
LOUDNESS_NAME = "loudness.json"  # the audio rendition's measured loudness, written by the ffmpeg encoder
LIVE_MASTER_NAMES = {"low": "live.m3u8", "standard": "live_standard.m3u8"}


def source_key(asset_id: str) -> str:
    """The one object an upload or import writes; the encoders read it."""
    return f"{SOURCES_PREFIX}{asset_id}"


def asset_id_from_source_key(key: str) -> str | None:
    """The asset a source object belongs to, or None for any other key."""
    if not key.startswith(SOURCES_PREFIX):
        return None
    return key[len(SOURCES_PREFIX):]


def asset_prefix(asset_id: str) -> str:
    """Everything an encode writes for the asset lives below this prefix (deleted with the asset)."""
    return f"{ASSETS_PREFIX}{asset_id}/"


def asset_object_key(asset_id: str, name: str) -> str:
    """One output of the asset: a playlist, segment, image or MP4 by its file name (or relative path)."""
    return f"{ASSETS_PREFIX}{asset_id}/{name}"


def master_key(asset_id: str) -> str:
    """The master playlist players open first."""
    return asset_object_key(asset_id, MASTER_NAME)


def tracks_prefix(asset_id: str) -> str:
    """The asset's text tracks as accepted, kept apart from the outputs a re-encode cleans up."""
    return f"{TRACKS_PREFIX}{asset_id}/"


def track_source_key(asset_id: str, track_id: str) -> str:
    """One text track's converted WebVTT, copied into the asset's outputs when it is published."""
    return f"{tracks_prefix(asset_id)}{track_id}.vtt"


def live_session_prefix(live_stream_id: str, started_at: datetime) -> str:
    """An unrecorded live session's objects: one prefix per session, so a new one never reuses a cached URI."""
    moment = started_at.replace(tzinfo=UTC) if started_at.tzinfo is None else started_at.astimezone(UTC)
    return f"{LIVE_PREFIX}{live_stream_id}/{moment:%Y%m%dT%H%M%S%fZ}/"
