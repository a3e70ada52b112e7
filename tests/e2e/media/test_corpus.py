"""Each bad-input corpus file ends as an EncodeResult or a precise MediaError; ffmpeg opens only job files."""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from streamstack.media.errors import MediaError
from streamstack.settings import Settings
from streamstack.storage.local import LocalObjectStore
from tests.corpus import generate as corpus

pytestmark = pytest.mark.e2e
FAST = Settings(x264_preset="ultrafast")
REFUSED_BEFORE_FFMPEG = {"empty_file", "playlist_input", "concat_input", "image_input"}
READY_SHAPES = {
    "audio-only.m4a": [],
    "video-only.mp4": [(320, 180)],
    "portrait.mp4": [(180, 320)],
    "rotated.mp4": [(180, 320)],
    "odd-size.mp4": [(1918, 1078), (1282, 720), (854, 480), (640, 360), (428, 240)],
    "one-frame.mp4": [(320, 180)],
    "vfr.mkv": [(320, 180)],
    "ten-bit.mkv": [(320, 180)],
}


@pytest.mark.parametrize("case", corpus.CASES, ids=lambda case: case.filename)
def test_corpus_case(
    case: corpus.Case,
    tmp_path: Path,
    store: LocalObjectStore,
    encode: Callable,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = corpus.build(case, tmp_path)
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(jobs))
    launched: list[list[str]] = []
    real_popen = subprocess.Popen

    def spy(args: list[str], **kwargs: object) -> subprocess.Popen:
        launched.append(list(args))
        return real_popen(args, **kwargs)

    monkeypatch.setattr(subprocess, "Popen", spy)
    try:
        result = encode(store, source, settings=FAST).result
        outcome = "ready"
    except MediaError as error:
        outcome, result = error.code, None
        assert len(error.message) > 20 and "Traceback" not in error.message
    assert outcome == case.expect
    for args in launched:  # ffmpeg was only ever pointed at files inside the job's temp dir
        for arg in args:
            if arg.startswith("file:"):
                assert Path(arg[5:]).resolve().is_relative_to(jobs.resolve())
    if case.expect in REFUSED_BEFORE_FFMPEG:
        assert launched == []
    assert list(jobs.iterdir()) == []
    if result is not None:
        assert [(r.width, r.height) for r in result.renditions] == READY_SHAPES[case.filename]
        assert store.head(result.master_key).size > 0
        assert (result.audio is not None) == (
            case.filename not in {"video-only.mp4", "one-frame.mp4", "vfr.mkv"}
        )
        assert abs(result.duration - result.source.duration) <= 0.1
    else:
        assert [info.key for info in store.list("assets/")] == []


def test_cases_txt_documents_every_case() -> None:
    listed = {
        tuple(line.split()[:2])
        for line in (Path(corpus.__file__).parent / "cases.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert listed == {(case.filename, case.expect) for case in corpus.CASES}
