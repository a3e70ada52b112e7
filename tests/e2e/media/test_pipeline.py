"""encode_asset end to end with real ffmpeg on tiny lavfi clips: decode every rendition back and check it."""

from __future__ import annotations

import re
import struct
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from streamstack.media.errors import MediaError
from streamstack.media.hls import parse_media_playlist
from streamstack.media.probe import parse_probe_output, probe
from streamstack.media.safety import run_ffmpeg
from streamstack.settings import Settings
from streamstack.storage.local import LocalObjectStore

pytestmark = pytest.mark.e2e
FAST = Settings(segment_seconds=2, keyframe_seconds=1, x264_preset="ultrafast")


@dataclass(frozen=True)
class Decoded:
    frames: int
    seconds: float
    width: int
    height: int


def decode(path: Path, stream: str = "v") -> Decoded:
    """Decode a playlist (as a player would, through ffmpeg's HLS demuxer) and count what comes out."""
    blocks: list[dict[str, str]] = []
    args = ["-progress", "pipe:1", "-i", str(path), "-map", f"0:{stream}:0", "-f", "null", "-"]
    run = run_ffmpeg(args, cwd=path.parent, timeout_seconds=120, on_progress=blocks.append)
    assert run.returncode == 0, run.stderr[-1000:]
    info = parse_probe_output(run.stderr)
    last = blocks[-1]
    return Decoded(int(last.get("frame", 0)), int(last["out_time_us"]) / 1e6, info.width, info.height)


def segment_starts(folder: Path, playlist: str) -> list[float]:
    """Each fMP4 segment's baseMediaDecodeTime (tfdt) in seconds, using the init segment's timescale."""
    parsed = parse_media_playlist((folder / playlist).read_text())
    assert parsed.init_uri
    init = (folder / parsed.init_uri).read_bytes()
    mdhd = init.find(b"mdhd")
    version = init[mdhd + 4]
    at = mdhd + (24 if version else 16)  # after version/flags and the creation/modification times
    timescale = struct.unpack(">I", init[at : at + 4])[0]
    starts = []
    for segment in parsed.segments:
        data = (folder / segment.uri).read_bytes()
        at = data.find(b"tfdt")
        wide = data[at + 4] == 1
        raw = data[at + 8 : at + (16 if wide else 12)]
        starts.append(struct.unpack(">Q" if wide else ">I", raw)[0] / timescale)
    return starts


def asset_dir(store: LocalObjectStore, asset_id: str = "a1") -> Path:
    return store.root / "assets" / asset_id


def test_ladder_decodes_back_as_planned(
    store: LocalObjectStore, clip_factory: Callable[..., Path], encode: Callable
) -> None:
    source = clip_factory(rate=30, size="640x360", seconds=5)
    encoded = encode(store, source, settings=FAST)
    result, folder = encoded.result, asset_dir(store)
    assert [(r.name, r.width, r.height) for r in result.renditions] == [
        ("360p", 640, 360),
        ("240p", 426, 240),
    ]
    assert abs(result.duration - 5.0) <= 0.1
    for rendition in result.renditions:
        decoded = decode(folder / f"{rendition.name}.m3u8")
        assert (decoded.width, decoded.height) == (rendition.width, rendition.height)
        assert decoded.frames == 150
        assert abs(decoded.frames / rendition.frame_rate - 5.0) <= 0.1
        assert re.fullmatch(r"avc1\.[0-9a-f]{6}", rendition.codecs) and rendition.size_bytes > 0  # from avcC
        assert rendition.bitrate >= rendition.average_bitrate > 0
    assert result.audio is not None
    audio = decode(folder / "audio.m3u8", stream="a")
    assert abs(audio.seconds - 5.0) <= 0.1


def test_source_between_rungs_keeps_its_resolution_on_top(
    store: LocalObjectStore, clip_factory: Callable[..., Path], encode: Callable
) -> None:
    encoded = encode(store, clip_factory(rate=30, size="640x272", seconds=2, audio=False), settings=FAST)
    result, folder = encoded.result, asset_dir(store)
    assert [(r.name, r.width, r.height) for r in result.renditions] == [("272p", 640, 272), ("240p", 564, 240)]
    decoded = decode(folder / "272p.m3u8")
    assert (decoded.width, decoded.height, decoded.frames) == (640, 272, 60)


def test_segment_boundaries_are_identical_across_renditions(
    store: LocalObjectStore, clip_factory: Callable[..., Path], encode: Callable
) -> None:
    encoded = encode(store, clip_factory(rate=30, size="640x360", seconds=5), settings=FAST)
    folder = asset_dir(store)
    durations = {
        r.name: [s.duration for s in parse_media_playlist((folder / f"{r.name}.m3u8").read_text()).segments]
        for r in encoded.result.renditions
    }
    assert list(durations.values())[0] == [2.0, 2.0, 1.0]
    assert len({tuple(d) for d in durations.values()}) == 1
    starts = {r.name: segment_starts(folder, f"{r.name}.m3u8") for r in encoded.result.renditions}
    assert list(starts.values())[0] == pytest.approx([0.0, 2.0, 4.0], abs=1e-3)
    assert len({tuple(round(s, 4) for s in v) for v in starts.values()}) == 1


def test_master_playlist_describes_what_was_written(
    store: LocalObjectStore, clip_factory: Callable[..., Path], encode: Callable
) -> None:
    result = encode(store, clip_factory(rate=30, size="640x360", seconds=3), settings=FAST).result
    master = (asset_dir(store) / "master.m3u8").read_text()
    assert result.master_key == "assets/a1/master.m3u8"
    assert '#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio"' in master
    for r in result.renditions:
        assert f'CODECS="{r.codecs},mp4a.40.2",RESOLUTION={r.width}x{r.height},FRAME-RATE=30.000' in master
        assert f"AVERAGE-BANDWIDTH={r.average_bitrate + result.audio.average_bitrate}," in master
        playlist = (asset_dir(store) / f"{r.name}.m3u8").read_text()
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and "#EXT-X-ENDLIST" in playlist
    for line in master.splitlines():
        if line and not line.startswith("#"):
            store.head(f"assets/a1/{line}")


def test_progress_and_playable_callbacks(
    store: LocalObjectStore, clip_factory: Callable[..., Path], encode: Callable
) -> None:
    encoded = encode(store, clip_factory(rate=30, size="640x360", seconds=5), settings=FAST)
    assert encoded.progress == sorted(encoded.progress) and encoded.progress[-1] == 100.0
    assert len(encoded.playable_keys) == 1
    visible = encoded.playable_keys[0]
    assert "assets/a1/master.m3u8" in visible
    for name in ("360p", "240p", "audio"):
        assert {
            f"assets/a1/{name}.m3u8",
            f"assets/a1/{name}_init.mp4",
            f"assets/a1/{name}_00000.m4s",
        } <= visible
    assert encoded.result.playable_seconds is not None
    assert encoded.result.playable_seconds <= encoded.result.encode_seconds


def test_images(store: LocalObjectStore, clip_factory: Callable[..., Path], encode: Callable) -> None:
    result = encode(store, clip_factory(rate=30, size="640x360", seconds=11), settings=FAST).result
    images = result.images
    assert images is not None and images.thumbnail_key == "assets/a1/thumbnail.jpg"
    folder = asset_dir(store)
    thumb = parse_probe_output(run_ffmpeg(["-i", "thumbnail.jpg"], cwd=folder, timeout_seconds=30).stderr)
    assert (thumb.width, thumb.height) == (640, 360)
    sprite = parse_probe_output(run_ffmpeg(["-i", "storyboard.jpg"], cwd=folder, timeout_seconds=30).stderr)
    assert (sprite.width, sprite.height) == (3 * 256, 144)
    vtt = (folder / "storyboard.vtt").read_text()
    assert vtt.count("#xywh=") == 3 and "00:00:10.000 --> 00:00:11.000" in vtt


def test_static_mp4_is_a_remux_of_the_top_rendition(
    store: LocalObjectStore, clip_factory: Callable[..., Path], encode: Callable
) -> None:
    result = encode(
        store, clip_factory(rate=30, size="640x360", seconds=3), settings=FAST, mp4_support="capped-1080p"
    ).result
    assert result.static_mp4_key == "assets/a1/capped-1080p.mp4"
    info = probe(asset_dir(store) / "capped-1080p.mp4")
    assert (info.width, info.height, info.has_audio) == (640, 360, True)
    assert abs(info.duration - 3.0) <= 0.1 and result.static_mp4_size


def test_redelivery_overwrites_and_removes_stale_keys(
    store: LocalObjectStore, clip_factory: Callable[..., Path], encode: Callable
) -> None:
    first = encode(store, clip_factory(rate=30, size="640x360", seconds=3), settings=FAST).result
    store.put("assets/a1/1080p_00007.m4s", [b"left by a crashed older run"])
    second = encode(store, clip_factory(rate=30, size="640x360", seconds=3), settings=FAST).result
    keys = {info.key for info in store.list("assets/")}
    assert keys == set(second.output_keys) == set(first.output_keys)
    assert "assets/a1/1080p_00007.m4s" not in keys
    assert store.head("uploads/a1").size > 0


def test_failed_job_leaves_no_objects_and_no_temp_files(
    store: LocalObjectStore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, encode: Callable, corpus_module
) -> None:
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    broken = tmp_path / "cut.mp4"
    corpus_case = next(c for c in corpus_module.CASES if c.filename.startswith("truncated-f"))
    corpus_case.make(broken)
    with pytest.raises(MediaError) as info:
        encode(store, broken, settings=FAST)
    assert info.value.code == "truncated_file"
    assert [i.key for i in store.list("assets/")] == []
    assert list(temp_root.iterdir()) == []


@pytest.mark.parametrize(
    ("overrides", "code"),
    [({"job_timeout_seconds": 0.3}, "timeout"), ({"job_max_output_bytes": 20_000}, "output_too_large")],
)
def test_limits_stop_the_job_and_clean_up(
    store: LocalObjectStore, clip_factory: Callable[..., Path], tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch, overrides: dict, code: str, encode: Callable,
) -> None:  # fmt: skip
    temp_root = tmp_path / "tmp"
    temp_root.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(temp_root))
    settings = FAST.model_copy(update=overrides)
    with pytest.raises(MediaError) as info:
        encode(store, clip_factory(rate=30, size="640x360", seconds=20), settings=settings)
    assert info.value.code == code
    assert [i.key for i in store.list("assets/")] == []
    assert list(temp_root.iterdir()) == []
