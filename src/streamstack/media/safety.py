"""What ffmpeg may touch and for how long: input whitelists, refused input kinds, limits, temp cleanup.

An upload is untrusted. ffmpeg happily follows an HLS playlist or a concat list to any path or URL,
so a job refuses those by content before ffmpeg runs, and every ffmpeg input is opened with a
protocol whitelist (`file` only; a stored source probed in place: HTTP to the loopback ranged-source
server only) and a demuxer whitelist (container formats only), so that a
playlist, concat list, image sequence or network description is rejected by ffmpeg itself too.
"""

from __future__ import annotations

import contextlib
import os
import queue
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import BinaryIO

from streamstack.media.errors import MediaError, ProbeError
from streamstack.process_locks import HeldLock, owner_is_gone

# Demuxers of real audio/video containers and elementary streams; everything else (hls, dash, concat,
# image2 and the *_pipe image demuxers, sdp, rtp, tee, lavfi, ...) is refused by ffmpeg.
ALLOWED_DEMUXERS: tuple[str, ...] = (
    "mov", "mp4", "matroska", "webm", "avi", "flv", "mpegts", "mpeg", "mxf", "asf", "ogg", "wav", "w64",
    "mp3", "aac", "ac3", "eac3", "flac", "aiff", "caf", "amr", "nut", "dv", "gxf", "h264", "hevc", "m4v",
    "mpegvideo", "ivf", "obu", "rm", "yuv4mpegpipe", "wv", "opus", "mpegtsraw",
)  # fmt: skip
PROTOCOL_WHITELIST = "file"
# A stored source probed in place (media.ranged): plain HTTP to the loopback server and nothing else.
LOOPBACK_PROTOCOL_WHITELIST = "http,tcp"

_IMAGE_MAGIC: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "PNG"),
    (b"\xff\xd8\xff", "JPEG"),
    (b"GIF87a", "GIF"),
    (b"GIF89a", "GIF"),
    (b"BM", "BMP"),
    (b"II*\x00", "TIFF"),
    (b"MM\x00*", "TIFF"),
)
SNIFF_BYTES = 8192
STDERR_KEEP_BYTES = 1 << 20
JOB_DIR_PREFIX = "streamstack-job-"  # every job dir (probe, encode) starts so, for the sweep at worker start
OWNER_LOCK_NAME = ".owner.lock"
UNLOCKED_DIR_GRACE_SECONDS = 60.0  # a dir killed between mkdtemp and taking its lock


@lru_cache
def ffmpeg_exe() -> str:
    """The ffmpeg of the imageio-ffmpeg wheel, so every machine runs the same build."""
    import imageio_ffmpeg

    return imageio_ffmpeg.get_ffmpeg_exe()


def input_args(path: Path) -> list[str]:
    """Open one local file with nothing but the file protocol and container demuxers."""
    return [
        "-protocol_whitelist", PROTOCOL_WHITELIST,
        "-format_whitelist", ",".join(ALLOWED_DEMUXERS),
        "-i", f"file:{path}",
    ]  # fmt: skip


def loopback_input_args(url: str) -> list[str]:
    """Open a source served by media.ranged: only HTTP to 127.0.0.1, the same container demuxers."""
    if not url.startswith("http://127.0.0.1:"):
        raise ValueError("only the loopback ranged-source server may be opened over HTTP")
    return [
        "-protocol_whitelist", LOOPBACK_PROTOCOL_WHITELIST,
        "-format_whitelist", ",".join(ALLOWED_DEMUXERS),
        "-i", url,
    ]  # fmt: skip


def refuse_by_content(path: Path) -> None:
    """Raise ProbeError for inputs recognisable from their first bytes, before ffmpeg sees them."""
    with path.open("rb") as handle:
        refuse_head(handle.read(SNIFF_BYTES), path.stat().st_size)


def refuse_head(head: bytes, size: int) -> None:
    """The checks of refuse_by_content on the first SNIFF_BYTES of a source of `size` bytes."""
    if size == 0:
        raise ProbeError("empty_file", "The file is empty (0 bytes).")
    for magic, kind in _IMAGE_MAGIC:
        if head.startswith(magic):
            raise ProbeError("image_input", f"The file is a still image ({kind}), not a video.")
    if head[8:12] == b"WEBP" and head.startswith(b"RIFF"):
        raise ProbeError("image_input", "The file is a still image (WebP), not a video.")
    text = _as_text(head)
    if text is not None:
        _refuse_text(text)


def _as_text(head: bytes) -> str | None:
    """Decoded text when the bytes look like a text file (no NUL, valid UTF-8/Latin text)."""
    if b"\x00" in head:
        return None
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a multi-byte character cut at the sniff boundary
            return None
        text = head[: exc.start].decode("utf-8")
    printable = sum(ch.isprintable() or ch in "\r\n\t" for ch in text)
    return text if text and printable / len(text) > 0.95 else None


def _refuse_text(text: str) -> None:
    """Name the text kinds ffmpeg would follow (playlists, concat lists, manifests) precisely."""
    body = text.lstrip("\ufeff \t\r\n")
    lines = [line.strip() for line in body.splitlines() if line.strip()]
    first = lines[0] if lines else ""
    if first.startswith("#EXTM3U") or first.startswith("#EXTINF"):
        raise ProbeError(
            "playlist_input",
            "The file is an HLS playlist (M3U8), not a media file; playlists can point at other files "
            "and are not accepted. Upload the video itself.",
        )
    if first.startswith("ffconcat") or any(line.startswith("file ") for line in lines[:20]):
        raise ProbeError(
            "concat_input",
            "The file is an ffmpeg concat list, not a media file; lists that point at other files are "
            "not accepted. Upload the video itself.",
        )
    if "<MPD" in body[:2000]:
        raise ProbeError(
            "playlist_input", "The file is a DASH manifest (MPD), not a media file. Upload the video itself."
        )
    if first.startswith("v=0"):
        raise ProbeError("playlist_input", "The file is an SDP session description, not a media file.")
    preview = first[:40]
    raise ProbeError("not_media", f"The file is text, not audio or video (it starts with {preview!r}).")


@contextlib.contextmanager
def job_directory(prefix: str = JOB_DIR_PREFIX) -> Iterator[Path]:
    """A private temp dir that is removed whatever happens; a lock inside marks it live until its owner dies."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    lock: HeldLock | None = None
    try:  # a SIGTERM (SystemExit) while the lock is taken must not leave an unlocked dir for the sweep's grace
        lock = HeldLock(path / OWNER_LOCK_NAME)
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)
        if lock is not None:
            lock.release()


def directory_bytes(path: Path) -> int:
    """Bytes under a directory right now (files may vanish while we look: ffmpeg renames temps)."""
    total = 0
    for entry in os.scandir(path):
        with contextlib.suppress(FileNotFoundError):
            total += entry.stat().st_size if entry.is_file() else directory_bytes(Path(entry.path))
    return total


@dataclass(frozen=True)
class FfmpegRun:
    returncode: int
    stderr: str
    wall_seconds: float


ProgressHandler = Callable[[dict[str, str]], None]


def run_ffmpeg(
    args: list[str],
    *,
    cwd: Path,
    timeout_seconds: float,
    max_output_bytes: int | None = None,
    on_progress: ProgressHandler | None = None,
    on_tick: Callable[[], None] | None = None,
    tick_seconds: float = 0.25,
) -> FfmpegRun:
    """Run ffmpeg in its own process group; kill the group on timeout, size overrun or any exception."""
    started = time.monotonic()
    with tempfile.TemporaryFile() as stderr_file:  # anonymous: not counted as output, gone on close
        proc = subprocess.Popen(
            [ffmpeg_exe(), "-hide_banner", "-nostdin", *args],
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr_file,
            start_new_session=True,
        )
        try:
            _supervise(
                proc, started, timeout_seconds, cwd, max_output_bytes, on_progress, on_tick, tick_seconds
            )
        finally:
            _kill_group(proc)
        stderr = _read_bounded(stderr_file)
    return FfmpegRun(proc.returncode, stderr, time.monotonic() - started)


def _read_bounded(handle: BinaryIO) -> str:
    """ffmpeg's diagnostics, keeping head and tail when a broken input made them huge."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(0)
    if size <= STDERR_KEEP_BYTES:
        return handle.read().decode(errors="replace")
    head = handle.read(STDERR_KEEP_BYTES // 2)
    handle.seek(size - STDERR_KEEP_BYTES // 2)
    return (head + b"\n[...]\n" + handle.read()).decode(errors="replace")


def sweep_orphaned_job_dirs(prefix: str = JOB_DIR_PREFIX) -> int:
    """Remove the temp dirs of killed jobs (their owner's lock is free), never a live job's; returns how many."""
    removed = 0
    unlocked_cutoff = time.time() - UNLOCKED_DIR_GRACE_SECONDS
    for entry in Path(tempfile.gettempdir()).glob(f"{prefix}*"):
        with contextlib.suppress(OSError):
            lock = entry / OWNER_LOCK_NAME
            orphaned = owner_is_gone(lock) if lock.exists() else entry.stat().st_mtime < unlocked_cutoff
            if entry.is_dir() and orphaned:
                shutil.rmtree(entry)
                removed += 1
    return removed


def _supervise(
    proc: subprocess.Popen[bytes],
    started: float,
    timeout_seconds: float,
    watch_dir: Path,
    max_output_bytes: int | None,
    on_progress: ProgressHandler | None,
    on_tick: Callable[[], None] | None,
    tick_seconds: float,
) -> None:
    """Forward progress blocks and enforce the limits until ffmpeg exits."""
    blocks: queue.Queue[dict[str, str] | None] = queue.Queue()
    reader = threading.Thread(target=_read_progress, args=(proc, blocks), daemon=True)
    reader.start()
    last_tick = 0.0
    while True:
        try:
            block = blocks.get(timeout=tick_seconds)
        except queue.Empty:
            block = {}
        if block is None:
            break
        if block and on_progress is not None:
            on_progress(block)
        now = time.monotonic()
        if now - started > timeout_seconds:
            raise _timeout(timeout_seconds)
        if now - last_tick >= tick_seconds:
            last_tick = now
            _check_size(watch_dir, max_output_bytes)
            if on_tick is not None:
                on_tick()
    try:
        proc.wait(timeout=max(1.0, timeout_seconds - (time.monotonic() - started)))
    except subprocess.TimeoutExpired as exc:
        raise _timeout(timeout_seconds) from exc
    reader.join(timeout=5)
    _check_size(watch_dir, max_output_bytes)


def _timeout(limit: float) -> MediaError:
    return MediaError("timeout", f"Processing the video took longer than the limit of {limit:.0f} s.")


def _check_size(watch_dir: Path, max_output_bytes: int | None) -> None:
    if max_output_bytes is not None and directory_bytes(watch_dir) > max_output_bytes:
        raise MediaError(
            "output_too_large", f"The encoded output exceeded this job's limit of {max_output_bytes} bytes."
        )


def _read_progress(proc: subprocess.Popen[bytes], blocks: queue.Queue[dict[str, str] | None]) -> None:
    """Turn `-progress pipe:1` key=value lines into one dict per report."""
    block: dict[str, str] = {}
    assert proc.stdout is not None
    for raw in proc.stdout:
        key, _, value = raw.decode(errors="replace").strip().partition("=")
        block[key] = value
        if key == "progress":
            blocks.put(block)
            block = {}
    blocks.put(None)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ffmpeg and anything it started, if it is still running."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


def stderr_reason(stderr: str, limit: int = 3) -> str:
    """The last meaningful ffmpeg error lines, for logs and error messages."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    noise = ("Exiting with exit code", "Conversion failed", "Error opening input files")
    useful = [line for line in lines if not line.startswith(noise)]
    return " | ".join(useful[-limit:])
