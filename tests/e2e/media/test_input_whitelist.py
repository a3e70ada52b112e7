"""Defence in depth: even if the content sniff missed a playlist or concat list, ffmpeg must not follow it.

The referenced "file" is a FIFO: opening it for reading is observable (a blocked writer wakes up),
so these tests prove ffmpeg never opened it, and a control run without our whitelists proves it would.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

import pytest

from streamstack.media.safety import input_args, run_ffmpeg

pytestmark = pytest.mark.e2e


class Canary:
    """A FIFO that records whether anyone opened it for reading."""

    def __init__(self, path: Path) -> None:
        self.path = path
        os.mkfifo(path)
        self.opened = threading.Event()
        self._writer = threading.Thread(target=self._wait_for_reader, daemon=True)
        self._writer.start()

    def _wait_for_reader(self) -> None:
        fd = os.open(self.path, os.O_WRONLY)  # blocks until a reader opens the FIFO
        self.opened.set()
        os.close(fd)

    def release(self) -> bool:
        """Unblock the writer if nobody came; return whether a reader had opened the FIFO."""
        was_opened = self.opened.wait(timeout=0.5)
        if not was_opened:
            with contextlib.suppress(OSError):
                os.close(os.open(self.path, os.O_RDONLY | os.O_NONBLOCK))
        self._writer.join(timeout=5)
        return was_opened


def playlist(folder: Path, target: Path) -> Path:
    path = folder / "evil.m3u8"
    path.write_text(f"#EXTM3U\n#EXT-X-TARGETDURATION:10\n#EXTINF:10.0,\nfile://{target}\n#EXT-X-ENDLIST\n")
    return path


def concat_list(folder: Path, target: Path) -> Path:
    path = folder / "list.ffconcat"
    path.write_text(f"ffconcat version 1.0\nfile '{target.name}'\n")
    return path


@pytest.mark.parametrize("make", [playlist, concat_list], ids=["hls", "concat"])
def test_whitelisted_input_never_opens_what_a_list_references(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    canary = Canary(tmp_path / "canary.ts")
    listing = make(tmp_path, canary.path)
    run = run_ffmpeg(
        ["-v", "debug", *input_args(listing), "-f", "null", "-"], cwd=tmp_path, timeout_seconds=20
    )
    assert run.returncode != 0 and "Format not on whitelist" in run.stderr
    assert not canary.release()


@pytest.mark.parametrize("make", [playlist, concat_list], ids=["hls", "concat"])
def test_control_without_whitelists_would_open_it(tmp_path: Path, make) -> None:  # type: ignore[no-untyped-def]
    canary = Canary(tmp_path / "canary.ts")
    listing = make(tmp_path, canary.path)
    run_ffmpeg(["-i", str(listing), "-f", "null", "-"], cwd=tmp_path, timeout_seconds=20)
    assert canary.release()
