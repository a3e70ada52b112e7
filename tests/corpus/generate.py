"""The bad-input corpus, generated at test time (no committed binaries); see cases.txt for outcomes.

.venv/bin/python tests/corpus/generate.py OUT_DIR    # write every case for manual poking
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import imageio_ffmpeg

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
VIDEO = "testsrc2=s={size}:r={rate}:d={seconds}"
AUDIO = "sine=f=440:sample_rate=48000:d={seconds}"


@dataclass(frozen=True)
class Case:
    """One corpus file: how to make it and what the pipeline must end with ("ready" or an error code)."""

    name: str
    filename: str
    expect: str
    make: Callable[[Path], None]


def ffmpeg(*args: str) -> None:
    subprocess.run([FFMPEG, "-hide_banner", "-loglevel", "error", "-y", *args], check=True)


def lavfi_clip(
    path: Path, *, size: str = "320x180", seconds: float = 2, rate: int = 30, audio: bool = True,
    video: bool = True, extra: tuple[str, ...] = (),
) -> None:  # fmt: skip
    """A tiny synthetic clip (H.264/AAC unless extra says otherwise)."""
    inputs: list[str] = []
    if video:
        inputs += ["-f", "lavfi", "-i", VIDEO.format(size=size, rate=rate, seconds=seconds)]
    if audio:
        inputs += ["-f", "lavfi", "-i", AUDIO.format(seconds=seconds)]
    codecs = (["-c:v", "libx264", "-preset", "ultrafast"] if video else []) + (
        ["-c:a", "aac"] if audio else []
    )
    ffmpeg(*inputs, *codecs, *extra, str(path))


def _truncated_index(path: Path) -> None:
    """moov at the end, file cut in half: the index never arrived."""
    full = path.with_suffix(".full.mp4")
    lavfi_clip(full, seconds=3)
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 2])
    full.unlink()


def _truncated_media(path: Path) -> None:
    """moov first (faststart), media data cut: the header promises more than the file holds."""
    full = path.with_suffix(".full.mp4")
    lavfi_clip(full, seconds=6, extra=("-movflags", "+faststart"))
    path.write_bytes(full.read_bytes()[: full.stat().st_size // 3])
    full.unlink()


def _rotated_portrait(path: Path) -> None:
    """Landscape pixels with a 90-degree display matrix, as phones record portrait video."""
    plain = path.with_suffix(".plain.mp4")
    lavfi_clip(plain, size="320x180")
    ffmpeg("-display_rotation", "90", "-i", str(plain), "-c", "copy", str(path))
    plain.unlink()


def _vfr(path: Path) -> None:
    """Irregular frame spacing (1/30 s and 1/20 s alternating) kept as variable frame rate."""
    ffmpeg(
        "-f", "lavfi", "-i", VIDEO.format(size="320x180", rate=30, seconds=2),
        "-vf", "setpts='(N+floor(N/2))/30/TB'", "-fps_mode", "vfr",
        "-c:v", "libx264", "-preset", "ultrafast", str(path),
    )  # fmt: skip


def _playlist(path: Path) -> None:
    path.write_text(
        "#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:10\n#EXT-X-MEDIA-SEQUENCE:0\n"
        "#EXTINF:10.0,\nfile:///etc/passwd\n#EXT-X-ENDLIST\n"
    )


def _concat(path: Path) -> None:
    path.write_text("ffconcat version 1.0\nfile '/etc/passwd'\nfile 'file:///etc/hostname'\n")


CASES: tuple[Case, ...] = (
    Case("zero bytes", "empty.mp4", "empty_file", lambda p: p.write_bytes(b"")),
    Case("truncated MP4 (no index)", "truncated.mp4", "truncated_file", _truncated_index),
    Case("truncated MP4 (media cut)", "truncated-faststart.mp4", "truncated_file", _truncated_media),
    Case("text named .mp4", "text.mp4", "not_media", lambda p: p.write_text("this is not a video\n")),
    Case("random bytes", "noise.mp4", "not_media", lambda p: p.write_bytes(bytes(range(256)) * 64)),
    Case("audio only", "audio-only.m4a", "ready", lambda p: lavfi_clip(p, video=False)),
    Case("video only", "video-only.mp4", "ready", lambda p: lavfi_clip(p, audio=False)),
    Case("portrait 9:16", "portrait.mp4", "ready", lambda p: lavfi_clip(p, size="180x320")),
    Case("portrait by rotation", "rotated.mp4", "ready", _rotated_portrait),
    Case("1918x1078", "odd-size.mp4", "ready", lambda p: lavfi_clip(p, size="1918x1078", seconds=1)),
    Case("single frame", "one-frame.mp4", "ready",
         lambda p: lavfi_clip(p, audio=False, extra=("-frames:v", "1"))),
    Case("variable frame rate", "vfr.mkv", "ready", _vfr),
    Case("10-bit", "ten-bit.mkv", "ready", lambda p: lavfi_clip(p, extra=("-pix_fmt", "yuv420p10le"))),
    Case("still image", "poster.png", "image_input", lambda p: ffmpeg(
        "-f", "lavfi", "-i", VIDEO.format(size="64x36", rate=1, seconds=1), "-frames:v", "1", str(p))),
    Case("HLS playlist -> /etc/passwd", "evil.m3u8", "playlist_input", _playlist),
    Case("HLS playlist named .mp4", "evil-playlist.mp4", "playlist_input", _playlist),
    Case("concat list", "list.txt", "concat_input", _concat),
)  # fmt: skip


def build(case: Case, directory: Path) -> Path:
    """Write one case into a directory and return its path."""
    path = directory / case.filename
    case.make(path)
    return path


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else "corpus-out")
    target.mkdir(parents=True, exist_ok=True)
    for item in CASES:
        print(f"{item.expect:<16} {build(item, target)}")
