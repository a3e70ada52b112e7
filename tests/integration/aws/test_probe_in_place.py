"""encoder=mediaconvert probes the source where it lies in S3, by ranged reads (issue 11, defect 7).

The Lambda that submits MediaConvert jobs has 512 MB of /tmp and 60 s: it must never download the source.
The clip here keeps its `moov` at the end (ffmpeg's default), so ffmpeg has to seek, as with camera files.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path

import pytest

from streamstack.media.errors import MediaError, ProbeError
from streamstack.media.probe import probe, probe_stored
from streamstack.media.ranged import RangeReads
from streamstack.settings import Settings
from streamstack.storage.factory import open_store


@pytest.fixture(scope="module")
def long_clip(clip_factory: Callable[..., Path]) -> Path:
    """30 s at a high bitrate (several MB), moov atom at the end of the file (no faststart)."""
    return clip_factory(size="320x180", rate=25, seconds=30, extra=("-b:v", "3M"))


def test_the_probe_reads_a_small_part_of_the_source_and_writes_nothing_to_tmp(aws: Settings, long_clip: Path,
                                                                               monkeypatch: pytest.MonkeyPatch):
    store = open_store(aws)
    store.put_file("sources/as_long", long_clip)
    size = long_clip.stat().st_size
    reads = RangeReads()
    before = set(Path(tempfile.gettempdir()).iterdir())

    probed = probe_stored(store, "sources/as_long", max_bytes=aws.max_upload_bytes, reads=reads)

    assert probed == probe(long_clip)  # the same description as a probe of the whole local file
    assert probed.duration == pytest.approx(30, abs=0.2) and (probed.width, probed.height) == (320, 180)
    assert reads.ranges and any(start > size // 2 for start, _ in reads.ranges)  # it seeked to the moov
    assert reads.bytes_sent < size // 4, (reads.bytes_sent, size)
    leftovers = [p for p in set(Path(tempfile.gettempdir()).iterdir()) - before if p.is_file()]
    assert not any(p.stat().st_size >= size // 4 for p in leftovers)


def test_refusals_come_from_the_first_bytes_and_limits_from_the_size(aws: Settings, long_clip: Path):
    store = open_store(aws)
    store.put("sources/as_list", [b"ffconcat version 1.0\nfile /etc/passwd\n"])
    with pytest.raises(ProbeError) as refused:
        probe_stored(store, "sources/as_list")
    assert refused.value.code == "concat_input"
    store.put_file("sources/as_big", long_clip)
    with pytest.raises(MediaError) as too_big:
        probe_stored(store, "sources/as_big", max_bytes=1000)
    assert too_big.value.code == "source_too_large"
    with pytest.raises(ProbeError) as missing:
        probe_stored(store, "sources/as_nothing")
    assert missing.value.code == "source_missing"
