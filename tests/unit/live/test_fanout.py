"""The relay's FLV fan-out to simulcast restreams: a joiner mid-stream decodes, a stuck one is dropped."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from streamstack.live import fanout
from streamstack.live.fanout import FLV_HEADER_BYTES, TAG_HEADER_BYTES, FlvFanout, is_config_tag, is_keyframe
from tests.unit.media.test_flv_head import relayed_flv

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def feed_in_pieces(out: FlvFanout, data: bytes, piece: int = 1000) -> None:
    for at in range(0, len(data), piece):
        out.feed(data[at : at + piece])


def read_all(fd: int) -> bytes:
    with os.fdopen(fd, "rb") as stream:
        return stream.read()


def tags(data: bytes) -> list[tuple[int, bytes]]:
    at, found = FLV_HEADER_BYTES, []
    while at + TAG_HEADER_BYTES <= len(data):
        size = int.from_bytes(data[at + 1 : at + 4], "big")
        found.append((data[at] & 0x1F, data[at + TAG_HEADER_BYTES : at + TAG_HEADER_BYTES + 2]))
        at += TAG_HEADER_BYTES + size + 4
    assert at == len(data), "whole tags only"
    return found


def decoded_frames(path: Path) -> int:
    run = subprocess.run([FFMPEG, "-hide_banner", "-v", "error", "-i", str(path), "-map", "0:v:0", "-f", "framemd5",
                          "-"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert run.returncode == 0 and not run.stderr.strip(), run.stderr
    return sum(1 for line in run.stdout.splitlines() if line and not line.startswith("#"))


def test_a_restream_joining_mid_stream_gets_the_configuration_then_a_keyframe(tmp_path: Path) -> None:
    data = relayed_flv(tmp_path, seconds=3)
    out = FlvFanout()
    out.start()
    feed_in_pieces(out, data[: len(data) // 2])
    joined = out.subscribe()
    feed_in_pieces(out, data[len(data) // 2 :], piece=777)
    out.close()
    received = read_all(joined)
    assert received[:3] == b"FLV"
    seen = tags(received)
    configuration = [t for t in seen if is_config_tag(*t)]
    assert [kind for kind, _ in configuration] == [18, 9, 8], "metadata, AVC and AAC configuration first"
    media = seen[len(configuration) :]
    assert media and is_keyframe(*media[0]), "the media starts at a keyframe"
    (tmp_path / "joined.flv").write_bytes(received)
    (tmp_path / "whole.flv").write_bytes(data)
    frames, total = decoded_frames(tmp_path / "joined.flv"), decoded_frames(tmp_path / "whole.flv")
    assert 0 < frames < total, (frames, total)


def test_without_a_connection_a_restream_sees_the_end_of_its_input_at_once() -> None:
    out = FlvFanout()
    assert read_all(out.subscribe()) == b""
    out.start()
    waiting = out.subscribe()
    out.close()
    assert read_all(waiting) == b"", "a connection that ends without media ends its restreams"


def test_a_restream_that_does_not_read_is_dropped_without_holding_the_encoder_up(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:  # fmt: skip
    monkeypatch.setattr(fanout, "PIPE_BYTES", 4096)
    monkeypatch.setattr(fanout, "MAX_PENDING_BYTES", 256 * 1024)
    data = relayed_flv(tmp_path, seconds=3)
    assert len(data) > 2 * fanout.MAX_PENDING_BYTES
    out = FlvFanout()
    out.start()
    stuck, reading = out.subscribe(), out.subscribe()
    os.set_blocking(reading, False)
    received = bytearray()
    for at in range(0, len(data), 4096):
        out.feed(data[at : at + 4096])  # never blocks: the stuck one fills up and is dropped
        received += drain(reading)
    assert len(out.subscribers) == 1, "only the reader is left"
    while out.subscribers[0].pending:  # the relay's last bytes reach the reader before the connection ends
        out.feed(b"")
        received += drain(reading)
    out.close()
    os.set_blocking(reading, True)
    received += read_all(reading)
    (tmp_path / "reader.flv").write_bytes(received)
    (tmp_path / "whole.flv").write_bytes(data)
    assert decoded_frames(tmp_path / "reader.flv") == decoded_frames(tmp_path / "whole.flv"), "every video frame"
    assert 0 < len(read_all(stuck)) < len(data) // 2


def drain(fd: int) -> bytes:
    """What a non-blocking pipe holds now."""
    got = bytearray()
    while True:
        try:
            chunk = os.read(fd, 1 << 20)
        except BlockingIOError:
            return bytes(got)
        if not chunk:
            return bytes(got)
        got += chunk


def test_media_time_zero_is_dated_by_the_tag_that_arrived_soonest_after_its_capture(tmp_path: Path) -> None:
    """Tags read while the relay analysed its input come late; the earliest arrival less its timestamp is
    when media time 0 was on the wall clock, which the packager's PROGRAM-DATE-TIMEs count from."""
    data = relayed_flv(tmp_path, seconds=2)
    captured, now = 1000.0, [0.0]
    out = FlvFanout(clock=lambda: now[0])
    out.start()
    assert out.media_origin is None
    out.feed(data[:FLV_HEADER_BYTES])
    at = FLV_HEADER_BYTES
    while at < len(data):  # tag by tag as a relay passes them on: 0.3 s late while analysing, then 50 ms
        end = at + TAG_HEADER_BYTES + int.from_bytes(data[at + 1 : at + 4], "big") + 4
        milliseconds = int.from_bytes(data[at + 4 : at + 7], "big")
        now[0] = captured + milliseconds / 1000 + (0.3 if milliseconds < 300 else 0.05)
        out.feed(data[at:end])
        at = end
    assert out.media_origin == pytest.approx(captured + 0.05)
    out.start()  # a reconnect: a new media time 0
    assert out.media_origin is None
    out.close()
