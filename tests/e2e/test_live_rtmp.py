"""Live end to end: ffmpeg publishes over RTMP to nginx, the stream goes active, LL-HLS plays from the edge.

Real parts only: nginx with its RTMP module, the wheel's ffmpeg as publisher and encoder, the API and
the edge over HTTP. The playlists the edge serves are checked against the spec's rules and decoded.
"""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import imageio_ffmpeg
import pytest

from streamstack.live.ingest import (
    LiveIngest,
    find_nginx,
    nginx_config,
    serve_callbacks,
    start_nginx,
    start_srt_front,
    wait_for_port,
)
from streamstack.live.rtmp_stat import stat_socket
from streamstack.live.srt import free_udp_port
from tests.conftest import LiveServer, bearer, free_port, make_settings, missing_part, new_api_key, wait_until
from tests.unit.media.llhls_rules import check_playlist, parse

LADDER = [{"name": "360p", "height": 360, "video_kbps": 730}, {"name": "180p", "height": 180, "video_kbps": 200}]


@dataclass
class LiveClient:
    """The live API, the edge and the RTMP server URL a publisher appends its key to."""

    api: str
    edge: str
    rtmp: str
    headers: dict[str, str]

    def create_stream(self, **body: object) -> dict:
        response = httpx.post(f"{self.api}/v1/live-streams", json=body, headers=self.headers)
        assert response.status_code == 201, response.text
        return response.json()

    def stream(self, stream_id: str) -> dict:
        return httpx.get(f"{self.api}/v1/live-streams/{stream_id}", headers=self.headers).json()


@dataclass
class LiveStack(LiveClient):
    """Everything in this process: the ingest's callbacks and supervision too."""

    ingest: LiveIngest
    srt_port: int


def publish(url: str, seconds: float) -> subprocess.Popen[bytes]:
    """ffmpeg as a publisher in real time (-re): 640x360 at 30 fps with a tone, a keyframe every second.

    FLV to an rtmp:// URL, MPEG-TS to an srt:// one."""
    return subprocess.Popen(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={seconds}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-f", "mpegts" if url.startswith("srt://") else "flv", url],
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


def publish_audio_only(url: str, seconds: float) -> subprocess.Popen[bytes]:
    """ffmpeg publishing a tone and no video in real time: FLV to an rtmp:// URL, MPEG-TS to an srt:// one."""
    return subprocess.Popen(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={seconds}",
         "-c:a", "aac", "-f", "mpegts" if url.startswith("srt://") else "flv", url],
        stdin=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip


@pytest.fixture
def stack(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[LiveStack]:
    """The API, the edge and the RTMP ingest on free ports; `indirect` parametrization adds settings."""
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed")
    from streamstack.api import create_app
    from streamstack.delivery.app import create_edge_app
    from streamstack.platform import build_platform

    settings = make_settings(tmp_path / "data", rtmp_port=free_port(), srt_port=free_udp_port(), live_ladder=LADDER,
                             live_x264_preset="ultrafast", live_dvr_window=30.0,
                             **getattr(request, "param", {}))  # fmt: skip
    platform = build_platform(settings)
    ingest = LiveIngest(platform, settings.rtmp_port)
    callbacks = serve_callbacks(ingest)
    run_dir = tmp_path / "nginx"
    config = nginx_config(run_dir=run_dir, rtmp_host="127.0.0.1", rtmp_port=settings.rtmp_port,
                          callback_url=f"http://127.0.0.1:{callbacks.server_address[1]}")  # fmt: skip
    nginx = start_nginx(config, run_dir)
    ingest.rtmp_stat = stat_socket(run_dir)
    front = start_srt_front(ingest, "127.0.0.1", settings.srt_port)
    supervisor = threading.Thread(target=ingest.supervise, daemon=True)
    supervisor.start()
    try:
        assert wait_for_port("127.0.0.1", settings.rtmp_port), (run_dir / "nginx-error.log").read_text()
        with LiveServer(create_app(platform), settings.api_port) as api, \
                LiveServer(create_edge_app(platform), settings.edge_port) as edge:  # fmt: skip
            yield LiveStack(api.url, edge.url, f"rtmp://127.0.0.1:{settings.rtmp_port}/live",
                            bearer(new_api_key(platform, name="live-test")), ingest, settings.srt_port)  # fmt: skip
    finally:
        ingest.stop()
        if front is not None:
            front.stop()
        nginx.terminate()
        nginx.wait(timeout=10)
        callbacks.shutdown()
        platform.close()




def test_rtmp_publish_plays_as_low_latency_hls_and_ends_as_vod(stack: LiveStack, tmp_path: Path) -> None:
    stream = stack.create_stream(reconnect_window=2, new_asset_settings={"playback_policy": ["public"]})
    assert stream["status"] == "idle" and stream["rtmp_url"] == stack.rtmp and stream["stream_key"]
    playback = stream["playback_ids"][0]["id"]
    publisher = publish(f"{stack.rtmp}/{stream['stream_key']}", 14)
    try:
        active = wait_until(lambda: (s := stack.stream(stream["id"]))["status"] == "active" and s, 15, "active")
        assert active["connected"] and active["active_asset_id"]
        master = wait_until(lambda: _get(f"{stack.edge}/{playback}.m3u8"), 20, "the live master playlist")
        assert "360p/ll.m3u8" in master.text and "#EXT-X-START" not in master.text
        media_url = f"{stack.edge}/{playback}/360p/ll.m3u8"
        first = wait_until(lambda: _playlist_with_parts(media_url), 20, "a playlist with parts")
        playlist = check_playlist(first)
        assert {r["URI"] for r in playlist.reports} == {"../180p/ll.m3u8"}
        hint = playlist.preload_hints[0]["URI"]
        msn, part = (int(x) for x in hint.removesuffix(".m4s").split("."))
        started = time.monotonic()
        blocked = httpx.get(media_url, params={"_HLS_msn": msn, "_HLS_part": part}, timeout=10)
        waited = time.monotonic() - started
        assert blocked.status_code == 200 and "max-age=60" in blocked.headers["cache-control"]
        assert f'URI="{hint}"' in blocked.text, "the blocking reload returns once the hinted part exists"
        assert waited < 3 * 2, waited
        check_playlist(blocked.text)
        hinted = httpx.get(f"{stack.edge}/{playback}/360p/{parse(blocked.text).preload_hints[0]['URI']}", timeout=10)
        assert hinted.status_code == 200 and hinted.content[4:8] == b"moof", "a preload-hinted part is served once cut"
        far = httpx.get(media_url, params={"_HLS_msn": msn + 10})
        assert far.status_code == 400
        assert publisher.wait(timeout=40) == 0, publisher.stderr.read() if publisher.stderr else ""
    finally:
        if publisher.poll() is None:
            publisher.kill()
    done = wait_until(lambda: (s := stack.stream(stream["id"]))["status"] == "idle" and s, 30, "idle after the window")
    asset_id = done["recent_asset_ids"][0]
    assert done["active_asset_id"] is None
    asset = httpx.get(f"{stack.api}/v1/assets/{asset_id}", headers=stack.headers).json()
    assert asset["status"] == "ready" and [r["name"] for r in asset["renditions"]] == ["360p", "180p"]
    assert 8 <= asset["duration"] <= 14.5, asset["duration"]
    vod = f"{stack.edge}/{asset['playback_ids'][0]['id']}"
    assert "360p/recording.m3u8" in httpx.get(f"{vod}.m3u8").text
    recording = httpx.get(f"{vod}/360p/recording.m3u8").text
    assert "#EXT-X-ENDLIST" in recording and "#EXT-X-PLAYLIST-TYPE:VOD" in recording
    assert "#EXT-X-PART" not in recording and recording.count("#EXTINF:") >= 4
    for rendition in ("360p", "180p"):  # live-to-VOD: the live segments themselves, decoded end to end
        decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-i",
                                  f"{vod}/{rendition}/recording.m3u8", "-f", "null", "-"],
                                 capture_output=True, text=True, timeout=60)  # fmt: skip
        assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


def test_a_wrong_or_disabled_key_is_refused_at_publish(stack: LiveStack) -> None:
    stream = stack.create_stream()
    wrong = publish(f"{stack.rtmp}/not-{stream['stream_key']}", 5)
    assert wrong.wait(timeout=20) != 0, "nginx drops a publisher whose key our callback refuses"
    response = httpx.put(f"{stack.api}/v1/live-streams/{stream['id']}/disable", headers=stack.headers)
    assert response.json()["status"] == "disabled"
    disabled = publish(f"{stack.rtmp}/{stream['stream_key']}", 5)
    assert disabled.wait(timeout=20) != 0
    after = stack.stream(stream["id"])
    assert after["status"] == "disabled" and not after["connected"] and after["active_asset_id"] is None


def test_a_session_at_its_limit_ends_cleanly_and_the_publisher_is_dropped(stack: LiveStack) -> None:
    """max_continuous_duration (a test stream's 5 minutes works the same way), here 4 s set on the row."""
    from sqlalchemy import select

    from streamstack.live.models import LiveStream
    from streamstack.webhooks.models import OutboxEvent

    stream = stack.create_stream(reconnect_window=60, new_asset_settings={"playback_policy": ["public"]})
    with stack.ingest.platform.sessions() as db_session:
        db_session.get(LiveStream, stream["id"]).max_continuous_duration = 4  # the API's minimum is a minute
        db_session.commit()
    publisher = publish(f"{stack.rtmp}/{stream['stream_key']}", 40)
    try:
        done = wait_until(lambda: (s := stack.stream(stream["id"]))["status"] == "idle" and s["recent_asset_ids"]
                          and s, 40, "the session ended at its limit")  # fmt: skip
        assert publisher.wait(timeout=20) != 0, "nginx dropped the publisher (on_update), long before its 40 s"
    finally:
        if publisher.poll() is None:
            publisher.kill()
            publisher.wait()
    assert not done["connected"] and done["active_asset_id"] is None
    asset = httpx.get(f"{stack.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=stack.headers).json()
    assert asset["status"] == "ready" and abs(asset["duration"] - 4) <= 0.5, asset["duration"]  # within a part
    vod = f"{stack.edge}/{asset['playback_ids'][0]['id']}/360p/recording.m3u8"
    recording = httpx.get(vod).text
    assert "#EXT-X-ENDLIST" in recording and "#EXT-X-PLAYLIST-TYPE:VOD" in recording
    decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", vod, "-f", "null",
                              "-"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr
    with stack.ingest.platform.sessions() as db_session:
        events = [e.type for e in db_session.scalars(select(OutboxEvent).where(OutboxEvent.object_id.in_(
            [stream["id"], asset["id"]])).order_by(OutboxEvent.created_at))]  # fmt: skip
    for event in ("video.live_stream.connected", "video.live_stream.disconnected", "video.live_stream.idle",
                  "video.asset.live_stream_completed", "video.asset.ready"):  # fmt: skip
        assert event in events, (event, events)
    assert events.index("video.live_stream.disconnected") < events.index("video.live_stream.idle")


def _get(url: str) -> httpx.Response | None:
    response = httpx.get(url, timeout=5)
    return response if response.status_code == 200 else None


def _playlist_with_parts(url: str) -> str | None:
    response = httpx.get(url, timeout=5)
    if response.status_code != 200 or response.text.count("#EXT-X-PART:") < 2:
        return None
    return response.text


def test_up_runs_the_rtmp_ingest_and_the_edge_plays_it(tmp_path: Path) -> None:
    """`streamstack up` starts nginx-rtmp itself: a publisher goes live and the LL playlist plays from the edge."""
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed")
    import json

    from tests.e2e.conftest import start_up

    with start_up(tmp_path, STREAMSTACK_LIVE_LADDER=json.dumps(LADDER[1:]),
                  STREAMSTACK_LIVE_X264_PRESET="ultrafast") as up:  # fmt: skip
        key = up.cli("keys", "create", "--name", "live").strip()
        headers = bearer(key)
        stream = httpx.post(f"{up.api}/v1/live-streams", json={"reconnect_window": 1, "new_asset_settings": {}},
                            headers=headers).json()
        rtmp = stream["rtmp_url"]
        assert rtmp == f"rtmp://127.0.0.1:{up.env['STREAMSTACK_RTMP_PORT']}/live"
        assert wait_for_port("127.0.0.1", int(up.env["STREAMSTACK_RTMP_PORT"]), 20), up.log_tail()
        publisher = publish(f"{rtmp}/{stream['stream_key']}", 8)
        try:
            media = f"{up.edge}/{stream['playback_ids'][0]['id']}/180p/ll.m3u8"
            text = wait_until(lambda: _playlist_with_parts(media), 30, "the LL playlist at the edge")
            check_playlist(text)
        finally:
            publisher.wait(timeout=30)
        idle = wait_until(lambda: (s := httpx.get(f"{up.api}/v1/live-streams/{stream['id']}",
                                                  headers=headers).json())["status"] == "idle" and s, 30, "idle")
        assert idle["recent_asset_ids"]


def test_a_publisher_that_drops_and_returns_continues_one_asset_after_a_discontinuity(stack: LiveStack) -> None:
    stream = stack.create_stream(reconnect_window=30, new_asset_settings={})
    url = f"{stack.rtmp}/{stream['stream_key']}"
    for _ in range(2):  # the same publisher twice, well within the reconnect window
        publisher = publish(url, 7)
        assert publisher.wait(timeout=30) == 0
        wait_until(lambda: not stack.stream(stream["id"])["connected"], 15, "the disconnect")
    during = stack.stream(stream["id"])
    assert during["status"] == "active" and during["active_asset_id"], "the window keeps the session open"
    completed = httpx.put(f"{stack.api}/v1/live-streams/{stream['id']}/complete", headers=stack.headers)
    assert completed.status_code == 200
    done = wait_until(lambda: (s := stack.stream(stream["id"]))["status"] == "idle" and s, 30, "idle on complete")
    assert done["recent_asset_ids"] == [during["active_asset_id"]], "one asset for the whole session"
    asset = httpx.get(f"{stack.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=stack.headers).json()
    vod = f"{stack.edge}/{asset['playback_ids'][0]['id']}/180p/recording.m3u8"
    recording = httpx.get(vod).text
    assert recording.count("#EXT-X-DISCONTINUITY\n") >= 1 and '#EXT-X-MAP:URI="init1.mp4"' in recording
    assert "#EXT-X-ENDLIST" in recording
    check_playlist(recording, low_latency=False)
    decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", vod, "-f", "null",
                              "-"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr
    assert 6 <= asset["duration"] <= 14, asset["duration"]  # each connection joins at a keyframe


def test_a_second_publisher_and_garbage_bytes_are_refused_without_disturbing_the_live_one(stack: LiveStack) -> None:
    import socket

    stream = stack.create_stream()
    url = f"{stack.rtmp}/{stream['stream_key']}"
    first = publish(url, 12)
    try:
        wait_until(lambda: stack.stream(stream["id"])["connected"], 15, "the first publisher")
        second = publish(url, 4)
        assert second.wait(timeout=20) != 0, "a key that is already live refuses a second publisher"
        host, port = stack.rtmp.removeprefix("rtmp://").split("/")[0].split(":")
        with socket.create_connection((host, int(port)), timeout=5) as garbage:
            garbage.sendall(bytes(range(256)) * 64)  # not an RTMP handshake
        media = f"{stack.edge}/{stream['playback_ids'][0]['id']}/180p/ll.m3u8"
        check_playlist(wait_until(lambda: _playlist_with_parts(media), 20, "the first publisher's playlist"))
        assert first.poll() is None, "the live publisher is still connected"
        assert stack.stream(stream["id"])["connected"]
    finally:
        first.kill()
        first.wait()


def test_ingest_runs_from_a_relative_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`make up` runs with data_dir `.streamstack` (relative): nginx must not read its paths against its prefix."""
    if find_nginx() is None:
        missing_part("nginx with its RTMP module (Debian: nginx, libnginx-mod-rtmp) is not installed")
    from streamstack.live.ingest import run_ingest
    from streamstack.platform import build_platform

    monkeypatch.chdir(tmp_path)
    settings = make_settings(Path(".streamstack"), rtmp_port=free_port())
    platform = build_platform(settings)
    stop = threading.Event()
    runner = threading.Thread(target=run_ingest, args=(platform, stop), daemon=True)
    runner.start()
    try:
        assert wait_for_port("127.0.0.1", settings.rtmp_port, 20), "nginx never listened (relative paths doubled?)"
    finally:
        stop.set()
        runner.join(timeout=30)
        platform.close()


def test_a_publisher_without_video_is_refused_with_its_reason(stack: LiveStack, fresh_metrics: Any) -> None:
    """An audio-only RTMP publisher is dropped before it is admitted, as soon as nginx sees its tracks (its relay,
    which waits for video, never gets a byte): no asset, the stream stays idle, and its last_refusal and a
    publish_refused event say why; a publisher with video right after goes live as usual and clears it."""
    from sqlalchemy import select

    from streamstack.webhooks.models import OutboxEvent

    fresh_metrics.configure_metrics(service="ingest", enabled=True)
    stream = stack.create_stream(reconnect_window=1, new_asset_settings={"playback_policy": ["public"]})
    audio_only = publish_audio_only(f"{stack.rtmp}/{stream['stream_key']}", 30)
    try:
        assert audio_only.wait(timeout=25) != 0, "nginx drops the publisher once its stream shows no video"
    finally:
        if audio_only.poll() is None:
            audio_only.kill()
            audio_only.wait()
    after = stack.stream(stream["id"])
    assert after["status"] == "idle" and not after["connected"], after
    assert after["active_asset_id"] is None and after["recent_asset_ids"] == []
    # the reason nginx's view gives; the probe's 15 s deadline would say "no media in time" instead
    assert after["last_refusal"]["reason"] == "no_video", after
    assert after["last_refusal"]["message"] == "The stream carries audio and no video.", after
    assert httpx.get(f"{stack.api}/v1/assets", headers=stack.headers).json()["data"] == [], "no recording was made"
    with stack.ingest.platform.sessions() as db_session:
        events = list(db_session.scalars(select(OutboxEvent).where(OutboxEvent.object_id == stream["id"])))
    assert [e.type for e in events] == ["video.live_stream.created", "video.live_stream.publish_refused"], events
    assert events[1].data["last_refusal"] == after["last_refusal"] and events[1].data["status"] == "idle"
    refusals = fresh_metrics.get_registry().get_sample_value
    assert refusals("streamstack_live_publish_refusals_total", {"protocol": "rtmp", "reason": "no_video"}) == 1
    publisher = publish(f"{stack.rtmp}/{stream['stream_key']}", 8)
    try:
        media = f"{stack.edge}/{stream['playback_ids'][0]['id']}/180p/ll.m3u8"
        check_playlist(wait_until(lambda: _playlist_with_parts(media), 20, "the next publisher's playlist"))
        live = stack.stream(stream["id"])
        assert live["status"] == "active" and live["last_refusal"] is None, live
    finally:
        publisher.kill()
        publisher.wait()


def test_complete_mid_segment_keeps_the_segment_in_progress_in_the_recording(stack: LiveStack) -> None:
    """A publisher sends 5.3 s (two whole segments and 1.3 s of a third) and stays connected, silent; `complete`
    then ends the session. The encoder drains what it holds and the segment in progress is closed short, so
    the recording holds all 5.3 s and ends with ENDLIST; the LL parts leave the store (segments only remain)."""
    published = 5.3  # 159 frames at 30 fps
    stream = stack.create_stream(reconnect_window=60, new_asset_settings={"playback_policy": ["public"]})
    ffmpeg = imageio_ffmpeg.get_ffmpeg_exe()
    source = subprocess.Popen(
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-re",
         "-f", "lavfi", "-i", f"testsrc2=size=640x360:rate=30:duration={published}",
         "-f", "lavfi", "-i", f"sine=frequency=440:sample_rate=48000:duration={published}",
         "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-g", "30", "-pix_fmt", "yuv420p",
         "-c:a", "aac", "-flush_packets", "1", "-f", "flv", "pipe:1"],
        stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    publisher = subprocess.Popen(  # its input stays open after the source's last frame: connected, silent
        [ffmpeg, "-hide_banner", "-loglevel", "error", "-f", "flv", "-i", "pipe:0", "-c", "copy", "-f", "flv",
         f"{stack.rtmp}/{stream['stream_key']}"], stdin=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert source.stdout is not None and publisher.stdin is not None
    try:
        for chunk in iter(lambda: source.stdout.read1(65536), b""):  # type: ignore[union-attr]
            publisher.stdin.write(chunk)
            publisher.stdin.flush()
        assert source.wait(timeout=10) == 0
        time.sleep(1.0)  # what nginx has reaches the encoder, which holds its fragment in progress
        assert stack.stream(stream["id"])["connected"], "the publisher is still there"
        completed = httpx.put(f"{stack.api}/v1/live-streams/{stream['id']}/complete", headers=stack.headers)
        assert completed.status_code == 200
        done = wait_until(lambda: (s := stack.stream(stream["id"]))["status"] == "idle" and s, 30, "idle")
    finally:
        publisher.kill()
        publisher.wait()
        source.kill()
        source.wait()
    asset = httpx.get(f"{stack.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=stack.headers).json()
    assert asset["status"] == "ready"
    assert abs(asset["duration"] - published) <= 0.1, asset["duration"]  # a few frames; one part is 0.5 s
    vod = f"{stack.edge}/{asset['playback_ids'][0]['id']}/180p/recording.m3u8"
    recording = check_playlist(httpx.get(vod).text, low_latency=False)
    assert recording.ended and recording.tags["EXT-X-PLAYLIST-TYPE"] == "VOD"
    assert [round(s.duration, 1) for s in recording.segments] == [2.0, 2.0, 1.3], recording.segments
    decoded = subprocess.run([ffmpeg, "-hide_banner", "-v", "error", "-stats", "-i", vod, "-f", "null", "-"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
    assert decoded.returncode == 0 and "rror" not in decoded.stderr, decoded.stderr
    hours, minutes, seconds = decoded.stderr.rsplit("time=", 1)[1].split()[0].split(":")
    assert abs(int(hours) * 3600 + int(minutes) * 60 + float(seconds) - published) <= 0.1, decoded.stderr
    stored = [info.key for info in stack.ingest.platform.store.list(f"assets/{asset['id']}/")]
    assert not [key for key in stored if key.count(".") == 2], "no LL part outlives the session"
    assert {f"assets/{asset['id']}/180p/{n}.m4s" for n in range(3)} <= set(stored), "the segments are the recording"
    final = check_playlist(httpx.get(vod.replace("recording.m3u8", "ll.m3u8")).text)
    assert final.ended and not final.trailing_parts and not any(s.parts for s in final.segments)
