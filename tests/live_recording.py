"""A live session recorded by the real encoder and packager, fed by ffmpeg's lavfi instead of a publisher.

The session, its ladder, masters, parts, segments and playlists are exactly what the ingest makes; only
the relay from nginx is left out, so tests of what is built on recordings (clips, live-to-VOD, DVR) stay
fast and need no RTMP server. The media runs faster than real time.
"""

from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Any

import imageio_ffmpeg

from streamstack.live import service
from streamstack.live.models import LiveStream
from streamstack.live.session import LiveSession
from streamstack.media.live import build_live_command
from streamstack.media.probe import Probe

LADDER = [{"name": "360p", "height": 360, "video_kbps": 730}, {"name": "180p", "height": 180, "video_kbps": 200}]
LIVE_SETTINGS: dict[str, Any] = {"live_ladder": LADDER, "live_x264_preset": "ultrafast"}


def publisher_probe() -> Probe:
    """What the ingest's probe reports for the publisher below (640x360 at 30 fps, a stereo tone)."""
    return Probe(format_name="flv", duration=0.0, bitrate=None, has_video=True, has_audio=True, width=640,
                 height=360, frame_rate=30.0, video_stream=0, audio_stream=1, audio_channels=2,
                 audio_sample_rate=48000)  # fmt: skip


@dataclass
class Recording:
    """A live stream's session in progress: connect, publish some seconds, and end it as the ingest would."""

    platform: Any
    live_stream_id: str
    asset_id: str | None
    session: LiveSession

    def publish(self, seconds: float) -> None:
        """One publisher connection of `seconds` of media (a reconnect when it is not the first)."""
        if self.session.plan is None:
            self.session.prepare(publisher_probe())
        plan, packager = self.session.plan, self.session.packager
        assert plan is not None and packager is not None
        source = ["-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}[out0];"
                  f"sine=frequency=440:sample_rate=48000:duration={seconds}[out1]"]  # fmt: skip
        pipes = [os.pipe() for _ in plan.renditions]
        command = build_live_command(source, publisher_probe(), plan, [w for _, w in pipes])
        encoder = subprocess.Popen([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-nostdin", *command],
                                   pass_fds=[w for _, w in pipes], stderr=subprocess.PIPE)  # fmt: skip
        for _, write_end in pipes:
            os.close(write_end)
        streams = {r.name: os.fdopen(read_end, "rb") for r, (read_end, _) in zip(plan.renditions, pipes, strict=True)}
        results = packager.package_all(streams)
        for stream in streams.values():
            stream.close()
        _, stderr = encoder.communicate(timeout=120)
        assert encoder.returncode == 0, stderr.decode()
        assert all(isinstance(count, int) and count > 0 for count in results.values()), results

    def complete(self) -> None:
        """The session ends (as after the reconnect window): ENDLIST everywhere, the stream idle."""
        duration = self.session.finish()
        with self.platform.sessions() as db_session:
            stream = db_session.get(LiveStream, self.live_stream_id)
            service.publish_ended(db_session=db_session, live_stream_id=self.live_stream_id,
                                  settings=self.platform.settings)  # fmt: skip
            service.complete_session(db_session=db_session, stream=stream, duration=duration,
                                     settings=self.platform.settings)  # fmt: skip


def start_recording(platform: Any, stream_key: str) -> Recording:
    """A publisher admitted on this key: the session (and its recording asset) the ingest would start."""
    with platform.sessions() as db_session:
        grant = service.authorize_publish(db_session=db_session, stream_key=stream_key, settings=platform.settings)
    session = LiveSession(asset_id=grant.asset_id, prefix=grant.prefix, store=platform.store,
                          settings=platform.settings, low_latency=True, sessions=platform.sessions)  # fmt: skip
    return Recording(platform, grant.live_stream_id, grant.asset_id, session)
