"""Benchmark the SRT front: a publisher through it beside the same publisher straight to an ffmpeg listener.

    .venv/bin/python bench/srt_front.py [--seconds 20]

One publisher (ffmpeg -re, 1280x720 at 30 fps testsrc2 + sine, 3 Mb/s, MPEG-TS over SRT with a passphrase)
sends first through the front (handshake read, key admitted, datagrams copied to a loopback listener),
then straight to such a listener (the anchor: what ffmpeg's SRT listener alone costs). The listener is
the session's relay (remux to FLV on a pipe, drained here). Figures:
  - publisher start -> first relayed byte: SRT handshake (+ admission, + the listener's start) and the
    first media; the anchor's listener is already up;
  - relayed bytes: what reached the relay (the same stream, so about the same);
  - CPU of this process per wall second: the front's loop (+ the pipe drain, in both runs);
  - datagrams per second through the front.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import imageio_ffmpeg  # noqa: E402

from streamstack.live.ingest import SRT_LISTEN_SECONDS  # noqa: E402
from streamstack.live.session import start_relay  # noqa: E402
from streamstack.live.srt import SrtBackend, SrtFront, free_udp_port  # noqa: E402
from streamstack.media.live import srt_listener_url  # noqa: E402

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()
PASSPHRASE = "bench-passphrase-0123456789"
KEY = "bench-key"


def publisher(url: str, seconds: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [FFMPEG, "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", f"testsrc2=size=1280x720:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-g", "60", "-b:v", "3M",
         "-pix_fmt", "yuv420p", "-c:a", "aac", "-f", "mpegts", url],
        stdin=subprocess.DEVNULL,
    )  # fmt: skip


class Drain:
    """The relay's output read to the end: when its first byte came, and how many."""

    def __init__(self, relay: subprocess.Popen[bytes]) -> None:
        self.relay, self.first, self.bytes = relay, 0.0, 0
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        assert self.relay.stdout is not None
        while chunk := os.read(self.relay.stdout.fileno(), 65536):
            self.first = self.first or time.monotonic()
            self.bytes += len(chunk)


def listener() -> tuple[int, subprocess.Popen[bytes], Drain]:
    port = free_udp_port()
    relay = start_relay(srt_listener_url(port, PASSPHRASE, wait_seconds=SRT_LISTEN_SECONDS), "srt")
    return port, relay, Drain(relay)


def run(seconds: int, *, through_front: bool) -> dict[str, float]:
    drains: list[Drain] = []
    front: SrtFront | None = None
    if through_front:
        def admit(stream_key: str) -> SrtBackend:
            port, relay, drain = listener()
            drains.append(drain)
            return SrtBackend(port, relay)

        front = SrtFront("127.0.0.1", free_udp_port(), admit)
        threading.Thread(target=front.serve, daemon=True).start()
        url = f"srt://127.0.0.1:{front.port}?streamid=publish:{KEY}&passphrase={PASSPHRASE}"
    else:
        port, _, drain = listener()
        drains.append(drain)
        time.sleep(1.0)  # the anchor's listener is up before its caller starts
        url = f"srt://127.0.0.1:{port}?passphrase={PASSPHRASE}"
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.monotonic()
    proc = publisher(url, seconds)
    assert proc.wait() == 0, "the publisher failed"
    wall = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    drain = drains[0]
    drain.relay.wait(timeout=15)
    drain.thread.join(timeout=5)
    datagrams = front.datagrams if front is not None else 0
    if front is not None:
        front.stop()
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return {"first": drain.first - started, "bytes": drain.bytes, "cpu": cpu / wall, "datagrams": datagrams / wall}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20)
    args = parser.parse_args()
    ours = run(args.seconds, through_front=True)
    anchor = run(args.seconds, through_front=False)
    print(f"{'':38}{'through the front':>20}{'ffmpeg listener alone':>24}")
    print(f"{'publisher start -> first relayed byte (s)':38}{ours['first']:>20.2f}{anchor['first']:>24.2f}")
    print(f"{'relayed bytes (MB)':38}{ours['bytes'] / 1e6:>20.2f}{anchor['bytes'] / 1e6:>24.2f}")
    print(f"{'CPU of this process (cores)':38}{ours['cpu']:>20.3f}{anchor['cpu']:>24.3f}")
    print(f"{'datagrams per second via the front':38}{ours['datagrams']:>20.0f}{'-':>24}")


if __name__ == "__main__":
    main()
