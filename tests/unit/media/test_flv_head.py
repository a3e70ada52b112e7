"""The live probe from an FLV's head: what ffmpeg's own probe says, read from the metadata in microseconds."""

from __future__ import annotations

import subprocess
from pathlib import Path

import imageio_ffmpeg
import pytest

from streamstack.live.session import probe_head
from streamstack.media.flv import probe_flv_head

FFMPEG = imageio_ffmpeg.get_ffmpeg_exe()


def relayed_flv(tmp_path: Path, *, audio: bool = True, size: str = "640x360", rate: int = 25,
                seconds: int = 1) -> bytes:
    """What the ingest relay writes: a publisher's H.264/AAC remuxed (no decode) to FLV."""
    source = tmp_path / "publisher.flv"
    inputs = ["-f", "lavfi", "-i", f"testsrc2=size={size}:rate={rate}:duration={seconds}"]
    if audio:
        inputs += ["-f", "lavfi", "-i", f"sine=sample_rate=48000:duration={seconds}", "-ac", "2"]
    subprocess.run([FFMPEG, "-v", "error", "-y", *inputs, "-c:v", "libx264", "-preset", "ultrafast", "-g", "25",
                    *(["-c:a", "aac"] if audio else []), "-f", "flv", str(source)], check=True)  # fmt: skip
    relayed = tmp_path / "relayed.flv"
    subprocess.run([FFMPEG, "-v", "error", "-y", "-i", str(source), "-map", "0:v:0", "-map", "0:a:0?", "-c", "copy",
                    "-f", "flv", str(relayed)], check=True)  # fmt: skip
    return relayed.read_bytes()


def test_the_metadata_says_what_ffmpeg_probes(tmp_path: Path) -> None:
    data = relayed_flv(tmp_path)
    probe = probe_flv_head(data[:4096])
    reference = probe_head(data[: 48 * 1024])
    assert probe is not None and reference is not None
    assert (probe.width, probe.height, probe.frame_rate) == (reference.width, reference.height, reference.frame_rate)
    assert (probe.video_stream, probe.audio_stream) == (reference.video_stream, reference.audio_stream)
    assert (probe.has_audio, probe.audio_channels, probe.audio_sample_rate) == (True, 2, 48000)
    assert probe.video_codec == "h264" and probe.audio_codec == "aac"


def test_a_stream_without_audio_has_no_audio(tmp_path: Path) -> None:
    probe = probe_flv_head(relayed_flv(tmp_path, audio=False, size="320x240", rate=30)[:4096])
    assert probe is not None and not probe.has_audio and probe.audio_stream is None
    assert (probe.width, probe.height, probe.frame_rate, probe.video_stream) == (320, 240, 30.0, 0)


def test_too_few_bytes_or_no_metadata_leave_it_to_ffmpeg(tmp_path: Path) -> None:
    data = relayed_flv(tmp_path)
    assert probe_flv_head(data[:200]) is None, "the metadata tag is cut: not enough to plan"
    header_end = 13
    tag_size = int.from_bytes(data[header_end + 1 : header_end + 4], "big")
    without_metadata = data[:header_end] + data[header_end + 11 + tag_size + 4 :]
    assert probe_flv_head(without_metadata[:4096]) is None


@pytest.mark.parametrize("garbage", [b"", b"FLV", b"GET / HTTP/1.1\r\n\r\n" * 20,
                                     b"FLV\x01\x05\x00\x00\x00\x09" + b"\xff" * 500,
                                     b"FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x12\x00\x00\x30" + b"\x00" * 7
                                     + b"\x02\x00\x0aonMetaData" + b"\x08\x00\x00\x00\x01" + b"\x00\x05width\x0a"
                                     + b"\xff" * 40])
def test_garbage_is_not_a_stream(garbage: bytes) -> None:
    assert probe_flv_head(garbage) is None
