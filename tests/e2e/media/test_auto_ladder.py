"""The content-aware ladder in the real pipeline: probe encodes and libvmaf decide, the renditions still play."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from streamstack.media.ladder import plan_ladder
from streamstack.media.probe import probe
from streamstack.settings import Settings
from streamstack.storage.local import LocalObjectStore
from tests.corpus import generate as corpus
from tests.e2e.media.test_pipeline import decode

pytestmark = pytest.mark.e2e
# The share is lifted: a 4 s clip cannot amortise an analysis the way a real upload does (bench/ladder.py).
AUTO = Settings(segment_seconds=2, keyframe_seconds=1, x264_preset="ultrafast", auto_ladder_max_analysis_share=100.0)


@pytest.fixture(scope="module")
def static_source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A near-static 'talking head': a soft gradient and a gently swaying block, 4 s of 640x360."""
    path = tmp_path_factory.mktemp("auto") / "static.mp4"
    corpus.ffmpeg("-f", "lavfi", "-i", "gradients=s=640x360:c0=0x304050:c1=0x8090a0:speed=0.01:r=30:d=4,"
                  "drawbox=x=260+12*sin(t*2):y=100:w=120:h=170:color=0xd0a080:t=fill",
                  "-c:v", "libx264", "-preset", "ultrafast", "-crf", "10", str(path))
    return path


def test_auto_prices_each_rung_by_content_and_the_result_plays(
    store: LocalObjectStore, static_source: Path, encode: Callable
) -> None:
    fixed = {p.name: p.bitrate for p in plan_ladder(probe(static_source), AUTO)}
    result = encode(store, static_source, settings=AUTO, ladder="auto").result
    report = result.ladder
    assert report.mode == "auto" and report.note == "content-aware ladder", report.note
    assert report.analysis_seconds > 0 and report.predicted_encode_seconds > 0
    assert {d.name for d in report.rungs} == set(fixed)
    for decision in report.rungs:
        assert decision.bitrate <= decision.fixed_bitrate == fixed[decision.name]
    assert sum(d.bitrate for d in report.rungs) < 0.5 * sum(fixed.values())  # a static picture is cheap
    top = result.renditions[0]
    assert (top.width, top.height) == (640, 360)
    assert top.average_bitrate < 0.5 * fixed[top.name]
    decoded = decode(store.root / "assets" / "a1" / f"{top.name}.m3u8")
    assert (decoded.width, decoded.height, decoded.frames) == (640, 360, 120)


def test_an_analysis_over_its_budget_keeps_the_fixed_ladder_and_says_so(
    store: LocalObjectStore, static_source: Path, encode: Callable
) -> None:
    settings = AUTO.model_copy(update={"auto_ladder_max_analysis_share": 0.0001})
    result = encode(store, static_source, settings=settings, ladder="auto").result
    assert result.ladder.note.startswith("fixed ladder kept: the analysis used") and "budget" in result.ladder.note
    fixed = plan_ladder(probe(static_source), settings)
    assert [(r.name, r.width) for r in result.renditions] == [(p.name, p.width) for p in fixed]
