"""The bad-input corpus and an encode helper for the media e2e tests (real ffmpeg; clips come from clip_factory)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import pytest

from streamstack.media.options import EncodeOptions
from streamstack.media.pipeline import EncodeResult, encode_asset
from streamstack.settings import Settings
from streamstack.storage.local import LocalObjectStore
from tests.corpus import generate as corpus


@dataclass
class Encoded:
    """An encode's result plus what its callbacks saw."""

    result: EncodeResult
    progress: list[float] = field(default_factory=list)
    playable_keys: list[set[str]] = field(default_factory=list)


@pytest.fixture
def corpus_module() -> ModuleType:
    """tests/corpus/generate.py, the bad-input corpus."""
    return corpus


@pytest.fixture
def encode() -> Callable[..., Encoded]:
    """run_encode, as a fixture so test modules need no imports from conftest."""
    return run_encode


def run_encode(
    store: LocalObjectStore, source: Path, *, asset_id: str = "a1", settings: Settings | None = None,
    mp4_support: str = "none", normalize_audio: bool = False, ladder: str = "fixed",
    on_playable: Callable[[], None] | None = None,
) -> Encoded:  # fmt: skip
    """Upload a file and encode it, recording progress and the objects visible when playable fired."""
    source_key = f"uploads/{asset_id}"
    store.put_file(source_key, source)
    progress: list[float] = []
    seen: list[set[str]] = []

    def playable() -> None:
        seen.append({info.key for info in store.list(f"assets/{asset_id}/")})
        if on_playable is not None:
            on_playable()

    result = encode_asset(
        store=store, asset_id=asset_id, source_key=source_key, settings=settings or Settings(),
        on_progress=progress.append, on_playable=playable,
        options=EncodeOptions(mp4_support=mp4_support, normalize_audio=normalize_audio, ladder=ladder),  # type: ignore[arg-type]
    )  # fmt: skip
    return Encoded(result, progress, seen)
