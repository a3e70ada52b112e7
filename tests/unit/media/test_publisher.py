"""Time to playable: growing EVENT playlists are published segment-first, the master once all have begun."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

from streamstack.media.hls import parse_media_playlist
from streamstack.media.ladder import AudioPlan, RenditionPlan
from streamstack.media.pipeline import HlsPublisher
from streamstack.storage.local import LocalObjectStore

PLANS = [
    RenditionPlan(
        "720p", 1280, 720, Fraction(30), 3_000_000, 3_300_000, 6_000_000, 60, "high", "3.1", "avc1.64001f"
    ),
    RenditionPlan(
        "240p", 426, 240, Fraction(30), 300_000, 330_000, 600_000, 60, "high", "2.1", "avc1.640015"
    ),
]
PREFIX = "assets/a1/"


def write_rendition(out: Path, name: str, segments: int, *, ended: bool = False, size: int = 1000) -> None:
    """What ffmpeg leaves on disk: init, finished segments, then the playlist listing them."""
    (out / f"{name}_init.mp4").write_bytes(b"....avcC\x01\x64\x00\x1f" if name != "audio" else b"init")
    lines = ["#EXTM3U", "#EXT-X-VERSION:7", "#EXT-X-TARGETDURATION:4", "#EXT-X-PLAYLIST-TYPE:EVENT",
             f'#EXT-X-MAP:URI="{name}_init.mp4"']  # fmt: skip
    for index in range(segments):
        (out / f"{name}_{index:05d}.m4s").write_bytes(b"x" * size * (index + 1))
        lines += ["#EXTINF:4.000000,", f"{name}_{index:05d}.m4s"]
    (out / f"{name}.m3u8").write_text("\n".join(lines + (["#EXT-X-ENDLIST"] if ended else [])) + "\n")


def stored(store: LocalObjectStore, name: str) -> str:
    return b"".join(store.get(PREFIX + name)).decode()


def test_master_waits_for_every_rendition_then_playable_fires_once(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    calls: list[int] = []
    publisher = HlsPublisher(store, PREFIX, out, PLANS, AudioPlan(), lambda: calls.append(1), set())

    write_rendition(out, "720p", 1)
    publisher.poll()
    assert calls == [] and "#EXT-X-PLAYLIST-TYPE:EVENT" in stored(store, "720p.m3u8")
    assert {i.key for i in store.list(PREFIX)} == {
        PREFIX + k for k in ("720p.m3u8", "720p_init.mp4", "720p_00000.m4s")
    }

    write_rendition(out, "240p", 1)
    write_rendition(out, "audio", 1)
    publisher.poll()
    publisher.poll()
    assert calls == [1]
    master = stored(store, "master.m3u8")
    assert (
        'CODECS="avc1.64001f,mp4a.40.2"' in master and "BANDWIDTH=3428000," in master
    )  # planned peak + audio
    for name in ("720p", "240p", "audio"):
        playlist = stored(store, f"{name}.m3u8")
        assert "#EXT-X-START:TIME-OFFSET=0" in playlist and "#EXT-X-ENDLIST" not in playlist
        parsed = parse_media_playlist(playlist)
        assert parsed.segments[0].uri == f"{name}_00000.m4s"
        for uri in [parsed.init_uri, *(s.uri for s in parsed.segments)]:
            store.head(PREFIX + uri)  # everything a player is told about already exists


def test_finish_closes_playlists_as_vod_with_measured_bandwidth(
    store: LocalObjectStore, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    publisher = HlsPublisher(store, PREFIX, out, PLANS, AudioPlan(), lambda: None, set())
    for name in ("720p", "240p", "audio"):
        write_rendition(out, name, 3, ended=True, size=1000 if name != "720p" else 100_000)
    renditions, audio = publisher.finish()
    for name in ("720p", "240p", "audio"):
        playlist = stored(store, f"{name}.m3u8")
        assert "#EXT-X-PLAYLIST-TYPE:VOD" in playlist and playlist.rstrip().endswith("#EXT-X-ENDLIST")
    top = renditions[0]
    assert top.bitrate == 300_000 * 8 // 4 and top.average_bitrate == 600_000 * 8 // 12
    assert top.codecs == "avc1.64001f" and top.playlist_key == PREFIX + "720p.m3u8"
    assert top.size_bytes == 600_000 + len(b"....avcC\x01\x64\x00\x1f")
    assert audio is not None and audio.bitrate == 3000 * 8 // 4
    master = stored(store, "master.m3u8")
    assert f"BANDWIDTH={top.bitrate + audio.bitrate}," in master
    assert f"AVERAGE-BANDWIDTH={top.average_bitrate + audio.average_bitrate}," in master
