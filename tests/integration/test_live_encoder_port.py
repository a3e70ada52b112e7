"""A live session plans and encodes through the LiveEncoder port, so another adapter can stand in for ffmpeg."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence
from types import SimpleNamespace
from typing import IO

import imageio_ffmpeg

from streamstack.live.session import LiveSession
from streamstack.media.encoder import FfmpegLiveEncoder
from streamstack.media.ladder import LadderRung
from streamstack.media.live import LiveEncodePlan
from streamstack.media.probe import Probe
from tests.unit.media.llhls_rules import check_playlist

NOMINAL = Probe(format_name="flv", duration=0.0, bitrate=None, has_video=True, has_audio=True, width=640, height=360,
                frame_rate=30.0, video_stream=0, audio_stream=1, audio_channels=2, audio_sample_rate=48000)  # fmt: skip


class NominalEncoder(FfmpegLiveEncoder):
    """Plans against a nominal contribution whatever arrives, as a managed encoder (MediaLive) must."""

    def __init__(self) -> None:
        super().__init__(SimpleNamespace(
            ladder=None, live_ladder=[LadderRung("360p", 360, 730), LadderRung("180p", 180, 200)], max_resolution=None,
            max_frame_rate=60.0, keyframe_seconds=2.0, live_part_seconds=0.5, live_dvr_window=60.0,
            live_x264_preset="ultrafast"))  # fmt: skip
        self.calls: list[str] = []

    def plan(self, probe: Probe, *, low_latency: bool) -> LiveEncodePlan:
        self.calls.append(f"plan {probe.width}x{probe.height}")
        return super().plan(NOMINAL, low_latency=low_latency)

    def start(self, plan: LiveEncodePlan, probe: Probe, outputs: Sequence[int], *,
              diagnostics: IO[bytes]) -> subprocess.Popen[bytes]:
        self.calls.append("start")
        return super().start(plan, probe, outputs, diagnostics=diagnostics)


def relay_stand_in(seconds: int = 3) -> subprocess.Popen[bytes]:
    """What the ingest relay hands a session: a publisher's H.264/AAC as FLV on stdout (here 320x240, fast)."""
    return subprocess.Popen(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error",
         "-f", "lavfi", "-i", f"testsrc2=size=320x240:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=sample_rate=48000:duration={seconds}", "-c:v", "libx264", "-preset", "ultrafast",
         "-g", "60", "-c:a", "aac", "-f", "flv", "pipe:1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip


def test_the_session_plans_and_encodes_through_the_live_encoder_port(platform) -> None:  # type: ignore[no-untyped-def]
    encoder = NominalEncoder()
    session = LiveSession(asset_id="as_port", store=platform.store, settings=platform.settings, low_latency=True,
                          sessions=platform.sessions, encoder=encoder)  # fmt: skip
    result = session.run_connection(relay_stand_in())
    assert result.error is None and result.fragments > 0, result
    session.finish()
    assert encoder.calls == ["plan 320x240", "start"], "planned once from the probe, then one encode"
    assert [r.name for r in session.plan.renditions] == ["360p", "180p"], "the adapter's plan, not ffmpeg's default"
    for rendition in ("360p", "180p"):
        recording = b"".join(platform.store.get(f"assets/as_port/{rendition}/recording.m3u8")).decode()
        playlist = check_playlist(recording, low_latency=False)
        assert "#EXT-X-ENDLIST" in recording and 2.9 <= sum(s.duration for s in playlist.segments) <= 3.1
