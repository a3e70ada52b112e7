"""EBU R128 loudness in the real pipeline: the normalised audio rendition measures at the target (ffmpeg ebur128)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import pytest

from streamstack.media.safety import run_ffmpeg
from streamstack.settings import Settings
from streamstack.storage.local import LocalObjectStore
from tests.corpus import generate as corpus

pytestmark = pytest.mark.e2e
FAST = Settings(segment_seconds=2, keyframe_seconds=1, x264_preset="ultrafast")
_SUMMARY_I = re.compile(r"Summary:.*?I:\s+(-?\d+(?:\.\d+)?) LUFS", re.S)


@pytest.fixture(scope="module")
def quiet_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """6 s of picture with speech-band tones far below broadcast level (about -35 LUFS)."""
    path = tmp_path_factory.mktemp("loudness") / "quiet.mp4"
    corpus.ffmpeg("-f", "lavfi", "-i", "testsrc2=s=320x180:r=30:d=6",
                  "-f", "lavfi", "-i", "sine=f=440:sample_rate=48000:d=6,volume=-29dB",
                  "-f", "lavfi", "-i", "sine=f=1200:sample_rate=48000:d=6,volume=-35dB",
                  "-filter_complex", "[1:a][2:a]amix=inputs=2:normalize=0[a]", "-map", "0:v", "-map", "[a]",
                  "-c:v", "libx264", "-preset", "ultrafast", "-c:a", "aac", "-b:a", "192k", str(path))
    return path


def integrated_loudness(media: Path) -> float:
    """What a broadcaster's meter says: ffmpeg's ebur128 over the whole file or playlist."""
    args = ["-nostats", "-loglevel", "info", "-i", str(media), "-map", "0:a:0", "-af", "ebur128", "-f", "null", "-"]
    run = run_ffmpeg(args, cwd=media.parent, timeout_seconds=120)
    assert run.returncode == 0, run.stderr[-800:]
    match = _SUMMARY_I.search(run.stderr)
    assert match, run.stderr[-800:]
    return float(match.group(1))


def test_normalised_audio_measures_at_minus_23_lufs_with_one_linear_gain(
    store: LocalObjectStore, quiet_source: Path, encode: Callable
) -> None:
    source_level = integrated_loudness(quiet_source)
    assert source_level < -30  # far from the target, so the test proves a real correction

    result = encode(store, quiet_source, settings=FAST, normalize_audio=True).result
    rendition = integrated_loudness(store.root / "assets" / "a1" / "audio.m3u8")
    print(f"source {source_level} LUFS -> rendition {rendition} LUFS ({result.loudness})")
    assert rendition == pytest.approx(-23.0, abs=1.0)
    assert result.loudness.method == "linear"
    assert result.loudness.target_lufs == -23.0
    assert result.loudness.source_integrated_lufs == pytest.approx(source_level, abs=1.0)
    assert result.loudness.integrated_lufs == pytest.approx(rendition, abs=1.0)
    assert (store.root / "assets" / "a1" / "loudness.json").is_file()


def test_a_configured_target_in_one_dynamic_pass(store: LocalObjectStore, quiet_source: Path, encode: Callable) -> None:
    settings = FAST.model_copy(update={"loudness_target_lufs": -16.0, "loudness_analysis_seconds": 0.0})
    result = encode(store, quiet_source, settings=settings, normalize_audio=True).result
    assert result.loudness.method == "dynamic"
    assert integrated_loudness(store.root / "assets" / "a1" / "audio.m3u8") == pytest.approx(-16.0, abs=1.0)


def test_without_normalisation_the_level_is_kept_and_still_measured(
    store: LocalObjectStore, quiet_source: Path, encode: Callable
) -> None:
    result = encode(store, quiet_source, settings=FAST).result
    rendition = integrated_loudness(store.root / "assets" / "a1" / "audio.m3u8")
    assert rendition == pytest.approx(integrated_loudness(quiet_source), abs=0.5)
    assert result.loudness.method == "none" and result.loudness.target_lufs is None
    assert result.loudness.integrated_lufs == pytest.approx(rendition, abs=1.0)
