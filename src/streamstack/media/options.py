"""Per-asset encode options: what the asset asked for, carried from the catalog to either encoder."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

LadderMode = Literal["fixed", "auto"]


@dataclass(frozen=True)
class EncodeOptions:
    """The asset's own choices (Mux's new_asset_settings) that change what an encode produces."""

    mp4_support: str = "none"
    normalize_audio: bool = False
    ladder: LadderMode = "fixed"  # auto: priced per rung by a short content analysis (media/complexity.py)
