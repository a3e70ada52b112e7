"""Clips end to end: cut from a live recording over the HTTP API, played from the edge and decoded by ffmpeg.

The recording is the real live encoder and packager's (fed by lavfi, see tests/live_recording.py); the clip
is fetched through the edge over HTTP as a player would, and ffmpeg decodes every frame of it.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import httpx
import imageio_ffmpeg
import pytest

from tests.conftest import LiveServer, bearer, make_settings, new_api_key
from tests.live_recording import LIVE_SETTINGS, start_recording

SEGMENT_SECONDS = 2.0


def decoded_seconds(url: str) -> float:
    """Decode the playlist end to end (no error tolerated); the media time ffmpeg reached."""
    run = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-stats", "-i", url,
                          "-f", "null", "-"], capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "rror" not in run.stderr, run.stderr
    hours, minutes, seconds = re.findall(r"time=(\d+):(\d+):([\d.]+)", run.stderr)[-1]
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@pytest.mark.parametrize("finished", [False, True], ids=["live", "finished"])
def test_a_clip_of_a_recording_decodes_with_the_duration_asked(tmp_path: Path, finished: bool) -> None:
    from streamstack.api import create_app
    from streamstack.delivery.app import create_edge_app
    from streamstack.platform import build_platform

    platform = build_platform(make_settings(tmp_path / "data", **LIVE_SETTINGS))
    headers = bearer(new_api_key(platform, name="clips"))
    try:
        with LiveServer(create_app(platform), platform.settings.api_port) as api, \
                LiveServer(create_edge_app(platform), platform.settings.edge_port) as edge:  # fmt: skip
            stream = httpx.post(f"{api.url}/v1/live-streams", json={"new_asset_settings": {}}, headers=headers).json()
            recording = start_recording(platform, stream["stream_key"])
            recording.publish(12)
            if finished:
                recording.complete()
            response = httpx.post(f"{api.url}/v1/assets", headers=headers, timeout=60, json={
                "input": f"streamstack://assets/{recording.asset_id}", "start_time": 3.2, "end_time": 9.5})  # fmt: skip
            assert response.status_code == 201, response.text
            made = response.json()
            asked = 9.5 - 3.2
            assert made["status"] == "ready" and abs(made["duration"] - asked) <= SEGMENT_SECONDS
            playback = f"{edge.url}/{made['playback_ids'][0]['id']}"
            master = httpx.get(f"{playback}.m3u8")
            assert master.status_code == 200 and "#EXT-X-STREAM-INF" in master.text
            for rendition in ("360p", "180p"):
                seconds = decoded_seconds(f"{playback}/{rendition}/recording.m3u8")
                assert abs(seconds - asked) <= SEGMENT_SECONDS, (rendition, seconds)
                assert seconds == pytest.approx(made["duration"], abs=0.2)
            decoded_master = decoded_seconds(f"{playback}.m3u8")
            assert abs(decoded_master - asked) <= SEGMENT_SECONDS
    finally:
        platform.close()
