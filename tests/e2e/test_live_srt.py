"""Live over SRT end to end: ffmpeg publishes MPEG-TS as an SRT caller with the URL the API gave it.

The same stack as the RTMP tests (tests/e2e/test_live_rtmp.py, whose fixture also runs the SRT front):
the key travels in the streamid, the passphrase protects the media, and the session behind it is the
RTMP one (probe, encoder, LL-HLS packager, recording, reconnect window).
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import imageio_ffmpeg
import pytest

from streamstack.live.srt import INDUCTION, parse_handshake
from tests.conftest import make_settings, wait_until
from tests.e2e.test_live_rtmp import (
    LiveStack,
    _playlist_with_parts,
    publish,
    publish_audio_only,
    stack,  # noqa: F401 - the RTMP tests' fixture, which runs the SRT front too
)
from tests.unit.media.llhls_rules import check_playlist


@pytest.fixture
def srt_stack(stack: LiveStack) -> LiveStack:  # noqa: F811 - pytest hands the imported fixture in
    return stack


def test_srt_publish_plays_as_low_latency_hls_and_ends_as_vod(srt_stack: LiveStack) -> None:
    stream = srt_stack.create_stream(reconnect_window=2, new_asset_settings={"playback_policy": ["public"]})
    srt_url = stream["srt_url"]
    query = parse_qs(urlsplit(srt_url).query)
    assert srt_url.startswith(f"srt://127.0.0.1:{srt_stack.srt_port}?")
    assert query["streamid"] == [f"publish:{stream['stream_key']}"] and len(query["passphrase"][0]) >= 10
    assert stream["stream_key"] not in query["passphrase"][0]
    publisher = publish(srt_url, 12)  # the URL as the API gave it, nothing added
    try:
        active = wait_until(lambda: (s := srt_stack.stream(stream["id"]))["status"] == "active" and s, 20, "active")
        assert active["connected"] and active["active_asset_id"]
        media = f"{srt_stack.edge}/{stream['playback_ids'][0]['id']}/360p/ll.m3u8"
        playlist = check_playlist(wait_until(lambda: _playlist_with_parts(media), 20, "LL-HLS over SRT"))
        assert {r["URI"] for r in playlist.reports} == {"../180p/ll.m3u8"}
        assert publisher.wait(timeout=40) == 0, publisher.stderr.read() if publisher.stderr else ""
    finally:
        if publisher.poll() is None:
            publisher.kill()
    done = wait_until(lambda: (s := srt_stack.stream(stream["id"]))["status"] == "idle" and s, 30, "idle after window")
    asset = httpx.get(f"{srt_stack.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=srt_stack.headers).json()
    assert asset["status"] == "ready" and [r["name"] for r in asset["renditions"]] == ["360p", "180p"]
    assert 7 <= asset["duration"] <= 12.5, asset["duration"]
    recording = f"{srt_stack.edge}/{asset['playback_ids'][0]['id']}/360p/recording.m3u8"
    assert "#EXT-X-ENDLIST" in httpx.get(recording).text
    decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", recording,
                              "-f", "null", "-"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


def test_srt_refuses_wrong_reset_deleted_and_disabled_keys_and_a_wrong_passphrase(srt_stack: LiveStack,
                                                                                    fresh_metrics: Any) -> None:
    fresh_metrics.configure_metrics(service="ingest", enabled=True)
    stream, deleted = srt_stack.create_stream(), srt_stack.create_stream()
    url = stream["srt_url"]
    api, headers = f"{srt_stack.api}/v1/live-streams", srt_stack.headers
    assert httpx.delete(f"{api}/{deleted['id']}", headers=headers).status_code == 204
    reset = httpx.post(f"{api}/{stream['id']}/reset-stream-key", headers=headers).json()
    assert reset["srt_url"] != url
    attempts = {"wrong key": reset["srt_url"].replace("publish:", "publish:not-"),
                "wrong passphrase": reset["srt_url"].replace("passphrase=", "passphrase=wrong"),
                "key before reset": url, "deleted stream": deleted["srt_url"]}
    for why, attempt in attempts.items():
        refused = publish(attempt, 5)
        assert refused.wait(timeout=20) != 0, why
    assert httpx.put(f"{api}/{stream['id']}/disable", headers=headers).json()["status"] == "disabled"
    disabled = publish(reset["srt_url"], 5)
    assert disabled.wait(timeout=20) != 0
    after = srt_stack.stream(stream["id"])
    assert after["status"] == "disabled" and not after["connected"]
    assert after["active_asset_id"] is None and after["recent_asset_ids"] == [], "a refused caller leaves no trace"
    assert httpx.get(f"{srt_stack.api}/v1/assets", headers=headers).json()["data"] == [], "no recording was made"
    refusals = fresh_metrics.get_registry().get_sample_value
    counted = {reason: refusals("streamstack_live_publish_refusals_total", {"protocol": "srt", "reason": reason})
               for reason in ("key", "passphrase", "no_video")}  # fmt: skip
    assert counted == {"key": 4, "passphrase": 1, "no_video": None}, "each refusal counted once, for its reason"


def test_srt_refuses_a_publisher_without_video(srt_stack: LiveStack) -> None:
    stream = srt_stack.create_stream()
    audio_only = publish_audio_only(stream["srt_url"], 15)
    try:
        assert audio_only.wait(timeout=30) != 0, "the caller is dropped once its stream shows no video"
    finally:
        if audio_only.poll() is None:
            audio_only.kill()
    after = srt_stack.stream(stream["id"])
    assert after["status"] == "idle" and not after["connected"] and after["active_asset_id"] is None
    assert after["last_refusal"]["reason"] == "no_video", after


def test_srt_garbage_and_a_second_publisher_do_not_disturb_the_live_one(srt_stack: LiveStack) -> None:
    stream = srt_stack.create_stream()
    first = publish(stream["srt_url"], 14)
    try:
        wait_until(lambda: srt_stack.stream(stream["id"])["connected"], 20, "the first publisher")
        media = f"{srt_stack.edge}/{stream['playback_ids'][0]['id']}/180p/ll.m3u8"
        before = check_playlist(wait_until(lambda: _playlist_with_parts(media), 20, "the first publisher's parts"))
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as garbage:
            for size in (1, 15, 64, 1316, 1500):
                garbage.sendto(os.urandom(size), ("127.0.0.1", srt_stack.srt_port))
            induction = bytes.fromhex("80000000") + bytes(12) + bytes.fromhex("00000004 00000002") + bytes(40)
            garbage.sendto(induction[:20] + b"\xff" * 44, ("127.0.0.1", srt_stack.srt_port))  # a conclusion, no cookie
            garbage.sendto(_induction(), ("127.0.0.1", srt_stack.srt_port))
            garbage.settimeout(5)
            answer = parse_handshake(garbage.recv(2048))
            assert answer is not None and answer.type == INDUCTION and answer.cookie, "the front still answers"
        second = publish(stream["srt_url"], 4)
        assert second.wait(timeout=20) != 0, "a key that is already live refuses a second caller"
        newest = before.segments[-1].msn if before.segments else -1
        wait_until(lambda: _newest_segment(media) > newest + 1, 20, "the live one keeps publishing segments")
        assert first.poll() is None, "the live publisher is still connected"
        assert srt_stack.stream(stream["id"])["connected"]
    finally:
        first.kill()
        first.wait()


def _induction() -> bytes:
    """A caller's first handshake packet (HSv4 INDUCTION), as libsrt sends it."""
    header = bytes.fromhex("80000000 00000000 00000000 00000000")
    cif = bytes.fromhex("00000004 00000002 12345678 000005dc 00002000 00000001 0badcafe 00000000") + bytes(16)
    return header + cif


def _newest_segment(url: str) -> int:
    text = _playlist_with_parts(url)
    segments = check_playlist(text).segments if text else []
    return segments[-1].msn if segments else -1


def test_the_ingest_process_listens_for_srt_even_without_rtmp(tmp_path: Path) -> None:
    """`streamstack ingest` (what `up` runs) answers SRT callers on STREAMSTACK_SRT_PORT, nginx or not."""
    from streamstack.live.ingest import run_ingest
    from streamstack.live.srt import free_udp_port
    from streamstack.platform import build_platform

    platform = build_platform(make_settings(tmp_path / "data", rtmp_port=0, srt_port=free_udp_port()))
    stop = threading.Event()
    runner = threading.Thread(target=run_ingest, args=(platform, stop), daemon=True)
    runner.start()
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as caller:
            caller.settimeout(0.5)

            def answered() -> bool:
                caller.sendto(_induction(), ("127.0.0.1", platform.settings.srt_port))
                try:
                    return parse_handshake(caller.recv(2048)) is not None
                except TimeoutError:
                    return False

            wait_until(answered, 20, "an SRT induction answer")
    finally:
        stop.set()
        runner.join(timeout=30)
        platform.close()


def test_srt_reconnect_continues_one_asset_and_complete_drops_the_caller(srt_stack: LiveStack) -> None:
    """The RTMP session machinery behind SRT: a return within the window is a discontinuity in the same
    asset; `complete` ends the session at once and the front tells the caller (SRT SHUTDOWN)."""
    stream = srt_stack.create_stream(reconnect_window=30, new_asset_settings={})
    media = f"{srt_stack.edge}/{stream['playback_ids'][0]['id']}/180p/ll.m3u8"
    first = publish(stream["srt_url"], 6)
    assert first.wait(timeout=30) == 0
    wait_until(lambda: not srt_stack.stream(stream["id"])["connected"], 15, "the disconnect")
    before = _segments_so_far(httpx.get(media, timeout=5).text)
    second = publish(stream["srt_url"], 60)
    try:
        wait_until(lambda: srt_stack.stream(stream["id"])["connected"], 20, "the return")
        # a whole segment of the return itself: the first connection's short last one may still be listed late
        wait_until(lambda: "#EXTINF:" in _after_discontinuity(text := _playlist_with_parts(media))
                   and _segments_so_far(text) > before + 1, 40, "a whole segment of the return")
        during = srt_stack.stream(stream["id"])
        completed = httpx.put(f"{srt_stack.api}/v1/live-streams/{stream['id']}/complete", headers=srt_stack.headers)
        assert completed.status_code == 200
        assert second.wait(timeout=20) != 0, "the caller is told the session ended, long before its 60 s"
    finally:
        if second.poll() is None:
            second.kill()
    done = wait_until(lambda: (s := srt_stack.stream(stream["id"]))["status"] == "idle" and s, 30, "idle")
    assert done["recent_asset_ids"] == [during["active_asset_id"]], "one asset for the whole session"
    asset = httpx.get(f"{srt_stack.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=srt_stack.headers).json()
    recording = f"{srt_stack.edge}/{asset['playback_ids'][0]['id']}/180p/recording.m3u8"
    text = httpx.get(recording).text
    assert text.count("#EXT-X-DISCONTINUITY\n") >= 1 and "#EXT-X-ENDLIST" in text
    check_playlist(text, low_latency=False)
    decoded = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-v", "error", "-i", recording,
                              "-f", "null", "-"], capture_output=True, text=True, timeout=60)  # fmt: skip
    assert decoded.returncode == 0 and not decoded.stderr.strip(), decoded.stderr


def _segments_so_far(playlist: str | None) -> int:
    """How many segments a live playlist has completed since the session began (its window may have slid)."""
    sequence = re.search(r"#EXT-X-MEDIA-SEQUENCE:(\d+)", playlist or "")
    return (int(sequence.group(1)) if sequence else 0) + (playlist or "").count("#EXTINF:")


def _after_discontinuity(playlist: str | None) -> str:
    """What a playlist lists after its first discontinuity ("" without one)."""
    _, found, rest = (playlist or "").partition("#EXT-X-DISCONTINUITY")
    return rest if found else ""


def test_up_runs_the_srt_ingest_without_nginx(tmp_path: Path) -> None:
    """`streamstack up` with RTMP off still runs the ingest for SRT: a caller with srt_url goes live at the edge."""
    import json

    from tests.e2e.conftest import start_up
    from tests.e2e.test_live_rtmp import LADDER

    with start_up(tmp_path, STREAMSTACK_RTMP_PORT="0", STREAMSTACK_LIVE_LADDER=json.dumps(LADDER[1:]),
                  STREAMSTACK_LIVE_X264_PRESET="ultrafast") as up:  # fmt: skip
        headers = {"Authorization": f"Bearer {up.cli('keys', 'create', '--name', 'live').strip()}"}
        stream = httpx.post(f"{up.api}/v1/live-streams", json={"reconnect_window": 1}, headers=headers).json()
        assert stream["rtmp_url"] is None
        assert stream["srt_url"].startswith(f"srt://127.0.0.1:{up.env['STREAMSTACK_SRT_PORT']}?streamid=publish:")
        publisher = publish(stream["srt_url"], 8)
        try:
            media = f"{up.edge}/{stream['playback_ids'][0]['id']}/180p/ll.m3u8"
            check_playlist(wait_until(lambda: _playlist_with_parts(media), 40, "LL-HLS through up"))
        finally:
            publisher.wait(timeout=30)
