"""The object-key layout, in one place: where a source lands, where an asset's outputs go, and the parse back.

    sources/{asset_id}                  the uploaded or imported source (its ObjectCreated event starts the encode)
    assets/{asset_id}/master.m3u8       the HLS master playlist
    assets/{asset_id}/{name}            renditions, segments, images and static MP4s, by their fixed file names
"""

from __future__ import annotations

SOURCES_PREFIX = "sources/"
ASSETS_PREFIX = "assets/"
MASTER_NAME = "master.m3u8"


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
