"""Refusal by content, ffmpeg limits (wall clock, output size) and temp-dir cleanup."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from streamstack.media.errors import MediaError, ProbeError
from streamstack.media.safety import input_args, job_directory, refuse_by_content, run_ffmpeg


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (b"", "empty_file"),
        (b"#EXTM3U\n#EXTINF:10,\nfile:///etc/passwd\n", "playlist_input"),
        (b"\xef\xbb\xbf  \n#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhttp://x/y.m3u8\n", "playlist_input"),
        (b"ffconcat version 1.0\nfile '/etc/passwd'\n", "concat_input"),
        (b"# my list\nfile 'a.mp4'\nfile 'b.mp4'\n", "concat_input"),
        (b'<?xml version="1.0"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011">', "playlist_input"),
        (b"v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\n", "playlist_input"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, "image_input"),
        (b"\xff\xd8\xff\xe0" + b"\x00" * 32, "image_input"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image_input"),
        ("héllo, this is a letter\n".encode(), "not_media"),
    ],
)
def test_refused_by_content(tmp_path: Path, content: bytes, code: str) -> None:
    path = tmp_path / "source"
    path.write_bytes(content)
    with pytest.raises(ProbeError) as info:
        refuse_by_content(path)
    assert info.value.code == code


def test_binary_media_passes_the_sniff(tmp_path: Path) -> None:
    path = tmp_path / "source"
    path.write_bytes(b"\x00\x00\x00\x20ftypisom" + bytes(range(256)) * 4)
    refuse_by_content(path)


def test_inputs_are_opened_with_whitelists() -> None:
    args = input_args(Path("/job/source"))
    assert args[args.index("-protocol_whitelist") + 1] == "file"
    formats = args[args.index("-format_whitelist") + 1].split(",")
    assert "mov" in formats and not {"hls", "concat", "image2", "sdp", "lavfi"} & set(formats)
    assert args[-1] == "file:/job/source"  # never parsed as a protocol or a pattern


def test_wall_clock_limit_kills_ffmpeg(tmp_path: Path) -> None:
    started = time.monotonic()
    with pytest.raises(MediaError) as info:
        run_ffmpeg(
            ["-re", "-f", "lavfi", "-i", "testsrc=s=32x32", "-f", "null", "-"],
            cwd=tmp_path,
            timeout_seconds=1,
        )
    assert info.value.code == "timeout"
    assert time.monotonic() - started < 10


def test_output_size_limit_kills_ffmpeg(tmp_path: Path) -> None:
    args = ["-re", "-f", "lavfi", "-i", "testsrc=s=320x240:r=25", "-c:v", "rawvideo", "-f", "nut", "out.nut"]
    with pytest.raises(MediaError) as info:
        run_ffmpeg(args, cwd=tmp_path, timeout_seconds=30, max_output_bytes=1_000_000)
    assert info.value.code == "output_too_large"


def test_progress_reports_reach_the_callback(tmp_path: Path) -> None:
    blocks: list[dict[str, str]] = []
    args = ["-progress", "pipe:1", "-f", "lavfi", "-i", "testsrc=s=32x32:d=1", "-f", "null", "-"]
    run = run_ffmpeg(args, cwd=tmp_path, timeout_seconds=30, on_progress=blocks.append)
    assert run.returncode == 0
    assert blocks and blocks[-1]["progress"] == "end" and "out_time_us" in blocks[-1]


def test_job_directory_is_removed_even_on_error() -> None:
    with pytest.raises(RuntimeError), job_directory() as path:
        (path / "big.bin").write_bytes(b"x" * 100)
        raise RuntimeError("boom")
    assert not path.exists()
