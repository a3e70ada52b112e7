"""An ingest task stopped by ECS (SIGTERM) drains: no new session, its own sessions end first, nothing half-open.

Real parts: nginx-rtmp and the wheel's ffmpeg as publisher and encoder, the ingest's own callbacks and supervision.
"""

from __future__ import annotations

import threading
import time

import httpx

from tests.conftest import wait_until
from tests.e2e.test_live_rtmp import LADDER, LiveStack, publish, stack  # noqa: F401 - the fixture

__all__ = ["stack"]
RECORDED = {"playback_policy": ["public"]}  # sessions record only when asked; these check their recordings


def _idle(stack: LiveStack, stream_id: str) -> dict:
    return wait_until(lambda: (s := stack.stream(stream_id))["status"] == "idle" and s, 30, "the stream idle")


def test_drain_refuses_new_sessions_and_waits_for_the_live_one_to_end(stack: LiveStack) -> None:
    live = stack.create_stream(reconnect_window=1, new_asset_settings=RECORDED)
    other = stack.create_stream(new_asset_settings=RECORDED)
    publisher = publish(f"{stack.rtmp}/{live['stream_key']}", 8)
    try:
        wait_until(lambda: stack.stream(live["id"])["connected"], 15, "the publisher")
        forced: list[list[str]] = []
        started = time.monotonic()
        drainer = threading.Thread(target=lambda: forced.append(stack.ingest.drain(60)), daemon=True)
        drainer.start()
        wait_until(stack.ingest.draining.is_set, 5, "draining")
        refused = publish(f"{stack.rtmp}/{other['stream_key']}", 4)
        assert refused.wait(timeout=20) != 0, "a draining ingest admits no new session"
        assert stack.stream(other["id"])["status"] == "idle" and not stack.stream(other["id"])["active_asset_id"]
        assert drainer.is_alive() and stack.stream(live["id"])["connected"], "the live session is not cut"
        assert publisher.wait(timeout=30) == 0
        drainer.join(timeout=40)
        assert not drainer.is_alive()
    finally:
        if publisher.poll() is None:
            publisher.kill()
    assert forced == [[]], "the session ended on its own (publisher gone, reconnect window passed)"
    assert time.monotonic() - started >= 5
    done = _idle(stack, live["id"])
    asset = httpx.get(f"{stack.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=stack.headers).json()
    assert asset["status"] == "ready" and asset["duration"] >= 4


def test_the_drain_deadline_closes_a_session_that_outlives_it_as_a_recording(stack: LiveStack) -> None:
    live = stack.create_stream(reconnect_window=60, new_asset_settings=RECORDED)
    publisher = publish(f"{stack.rtmp}/{live['stream_key']}", 60)
    try:
        media = wait_until(lambda: (s := stack.stream(live["id"]))["active_asset_id"] and s, 15, "the session")
        wait_until(lambda: httpx.get(f"{stack.edge}/{media['playback_ids'][0]['id']}/180p/ll.m3u8").status_code
                   == 200, 20, "the first parts")  # fmt: skip
        assert stack.ingest.drain(2) == [live["id"]]
    finally:
        publisher.kill()
        publisher.wait()
    done = _idle(stack, live["id"])
    assert done["recent_asset_ids"] == [media["active_asset_id"]]
    asset = httpx.get(f"{stack.api}/v1/assets/{done['recent_asset_ids'][0]}", headers=stack.headers).json()
    assert asset["status"] == "ready"
    recording = httpx.get(f"{stack.edge}/{asset['playback_ids'][0]['id']}/180p/recording.m3u8").text
    assert "#EXT-X-ENDLIST" in recording and "#EXTINF:" in recording


def test_an_ingest_sized_for_one_session_refuses_a_second_stream(stack: LiveStack) -> None:
    stack.ingest.max_sessions = 1
    first, second = stack.create_stream(), stack.create_stream()
    publisher = publish(f"{stack.rtmp}/{first['stream_key']}", 10)
    try:
        wait_until(lambda: stack.stream(first["id"])["connected"], 15, "the first publisher")
        refused = publish(f"{stack.rtmp}/{second['stream_key']}", 4)
        assert refused.wait(timeout=20) != 0, "the task is full: the publisher must reconnect elsewhere"
        assert stack.stream(second["id"])["status"] == "idle" and stack.stream(first["id"])["connected"]
    finally:
        publisher.kill()
        publisher.wait()
