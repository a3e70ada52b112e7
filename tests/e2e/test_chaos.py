"""Chaos, bounded: workers SIGKILLed at random points of 20 encodes, the API killed mid-PATCH, the whole tree
killed during a webhook backlog. Nothing is lost, nothing is duplicated, nothing is left behind.

Recovery times are printed (run with `-s` to read them): kill -> job redelivered -> asset ready.
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select
from tusclient.client import TusClient

from streamstack.assets import service as assets
from streamstack.assets.models import Asset, NewAssetSettings
from streamstack.platform import Platform, build_platform
from streamstack.settings import Settings
from streamstack.storage.keys import asset_prefix, source_key
from streamstack.webhooks import service as webhooks
from streamstack.webhooks.models import OutboxEvent
from tests.conftest import bearer, make_clip, wait_until
from tests.e2e.chaos import (
    LADDER,
    AssetTimeline,
    CatalogObserver,
    admin_key,
    process_env,
    start,
    stop,
    uploaded_assets,
)
from tests.e2e.conftest import answers, start_up
from tests.e2e.processes import child_named, kill_tree

pytestmark = pytest.mark.e2e

SEED = 15
ENCODES = 20
KILLS = 8


def in_flight_encode(platform: Platform) -> tuple[str, int] | None:
    """The asset whose encode started last and is not finished, with its attempt count."""
    with platform.sessions() as db_session:
        row = db_session.execute(
            select(Asset.id, Asset.encode_attempts).where(Asset.status == "preparing",
                                                          Asset.encoding_started_at.is_not(None))
            .order_by(Asset.encoding_started_at.desc()).limit(1)
        ).first()
    return (row[0], row[1]) if row else None


def referenced(playlist: str) -> set[str]:
    """Every URI an HLS playlist names: its lines and its URI="..." attributes (EXT-X-MAP, EXT-X-MEDIA)."""
    lines = playlist.splitlines()
    uris = {line for line in lines if line and not line.startswith("#")}
    return uris | {line.split('URI="')[1].split('"')[0] for line in lines if 'URI="' in line}


def assert_one_clean_ladder(platform: Platform, asset_id: str) -> None:
    """Each rendition once in the catalog; the stored HLS objects are exactly what the playlists name."""
    with platform.sessions() as db_session:
        asset = db_session.get(Asset, asset_id)
        assert asset is not None and asset.status == "ready", asset_id
        names = [r.name for r in asset.renditions]
    assert sorted(names) == sorted(r["name"] for r in LADDER), (asset_id, names)
    prefix = asset_prefix(asset_id)

    def read(name: str) -> str:
        return b"".join(platform.store.get(prefix + name)).decode()

    playlists = referenced(read("master.m3u8"))
    expected = {"master.m3u8", *playlists}
    for playlist in playlists:
        expected |= referenced(read(playlist))
    stored = {info.key[len(prefix):] for info in platform.store.list(prefix)}
    hls = {name for name in stored if name.endswith((".m3u8", ".m4s", ".mp4"))}
    assert hls == expected, (asset_id, hls ^ expected)


def test_workers_sigkilled_at_random_points_of_20_encodes_lose_and_duplicate_nothing(
    tmp_path: Path, small_settings: Settings, small_platform: Platform
) -> None:
    clip = make_clip(tmp_path / "clip.mp4", size="320x180", seconds=2)
    asset_ids = uploaded_assets(small_platform, clip.read_bytes(), ENCODES)
    tmp_dir = tmp_path / "worker-tmp"
    env = process_env(small_settings, tmp_dir)
    log = tmp_path / "workers.log"
    rng = random.Random(SEED)
    recoveries: list[dict[str, float | str]] = []
    with CatalogObserver(small_settings).running() as observer:
        worker = start("worker", env, log)
        try:
            for nth in sorted(rng.sample(range(1, ENCODES + 1), KILLS)):  # which encodes get a kill
                observer.wait_for(lambda n=nth: observer.encodes_started() >= n, 120, f"encode {nth} to start")
                threading.Event().wait(rng.uniform(0.0, 0.6))  # a random point of that encode (or just after)
                victim = in_flight_encode(small_platform)
                killed_at = time.monotonic()
                os.kill(worker.pid, signal.SIGKILL)
                worker.wait()
                worker = start("worker", env, log)  # the next worker, as `up` restarts it
                if victim is not None:
                    recoveries.append({"asset": victim[0], "attempts": victim[1], "killed_at": killed_at})
            observer.wait_for(lambda: observer.ready_count() == ENCODES, 300, "every asset to be ready")
        finally:
            stop(worker)
        timelines = dict(observer.timelines)

    assert len(recoveries) >= KILLS // 2, "most kills should land on an encode"
    for asset_id in asset_ids:
        assert_one_clean_ladder(small_platform, asset_id)
    assert [p.name for p in tmp_dir.iterdir()] == []  # the killed encodes' temp dirs were swept
    assert list((small_settings.data_dir / "leases").glob("*")) == []
    assert small_platform.encode_queue.stats().visible == 0 and small_platform.encode_queue.dlq_stats().visible == 0
    assert small_platform.events_queue.dlq_stats().visible == 0
    report_recoveries(recoveries, timelines)


def report_recoveries(recoveries: list[dict], timelines: dict) -> None:  # type: ignore[type-arg]
    """Print kill -> redelivered (the next attempt starts) -> ready for each kill that hit an encode."""
    redelivered, ready = [], []
    for kill in recoveries:
        timeline = timelines[kill["asset"]]
        next_attempt = timeline.attempts.get(int(kill["attempts"]) + 1)
        if next_attempt is not None:
            redelivered.append(next_attempt - kill["killed_at"])
        assert timeline.ready_at is not None
        ready.append(timeline.ready_at - kill["killed_at"])
    print(f"\nworker SIGKILL recovery over {len(recoveries)} kills mid-job "
          f"({len(redelivered)} mid-encode, the rest between encode and catalog update):")
    if redelivered:
        print(f"  kill -> job redelivered: median {statistics.median(redelivered):.2f} s, max {max(redelivered):.2f} s")
    print(f"  kill -> asset ready:     median {statistics.median(ready):.2f} s, max {max(ready):.2f} s")
    assert all(seconds < 30 for seconds in redelivered)  # immediate, not the visibility timeout


def test_api_killed_mid_patch_and_the_tus_client_resumes_with_bytes_intact(
    tmp_path: Path, small_settings: Settings, small_platform: Platform
) -> None:
    chunk = 1024 * 1024
    payload = os.urandom(3 * chunk + 17)
    source = tmp_path / "upload.bin"
    source.write_bytes(payload)
    env = process_env(small_settings, tmp_path / "api-tmp")
    log = tmp_path / "api.log"
    api_url = f"http://127.0.0.1:{small_settings.api_port}"
    headers = bearer(admin_key(small_platform))
    api = start("api", env, log)
    try:
        wait_until(lambda: answers(f"{api_url}/readyz"), 60, "the API")
        upload = httpx.post(f"{api_url}/v1/uploads", headers=headers, json={"size": len(payload)}).json()
        TusClient(upload["url"]).uploader(str(source), url=upload["url"], chunk_size=chunk).upload(stop_at=chunk)
        part = small_settings.uploads_dir / f"{upload['id']}.part"
        path = upload["url"].split(str(small_settings.api_port), 1)[1]
        with socket.create_connection(("127.0.0.1", small_settings.api_port), timeout=30) as conn:
            conn.sendall((f"PATCH {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nTus-Resumable: 1.0.0\r\n"
                          f"Upload-Offset: {chunk}\r\nContent-Type: application/offset+octet-stream\r\n"
                          f"Content-Length: {chunk}\r\n\r\n").encode() + payload[chunk:chunk + chunk // 2])
            wait_until(lambda: part.stat().st_size > chunk, 30, "half of the PATCH body to be written")
            api.kill()  # SIGKILL mid-body: the offset was never committed past the first chunk
            api.wait()
        api = start("api", env, log)
        wait_until(lambda: answers(f"{api_url}/readyz"), 60, "the restarted API")
        resumed = TusClient(upload["url"]).uploader(str(source), url=upload["url"], chunk_size=chunk)
        assert chunk <= resumed.offset < len(payload)
        resumed.upload()
        asset = httpx.get(f"{api_url}/v1/assets/{upload['asset_id']}", headers=headers).json()
    finally:
        stop(api)
    assert asset["status"] == "preparing"
    stored = b"".join(small_platform.store.get(source_key(upload["asset_id"])))
    assert hashlib.sha256(stored).hexdigest() == hashlib.sha256(payload).hexdigest()
    [message] = small_platform.encode_queue.receive(max_messages=10, wait_seconds=1)  # one encode, not two
    assert upload["asset_id"] in message.body


class Receiver(BaseHTTPRequestHandler):
    """A webhook receiver that takes 50 ms per delivery, so a backlog builds; records every webhook-id."""

    received: list[str] = []
    arrived = threading.Condition()

    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        threading.Event().wait(0.05)
        self.send_response(200)
        self.end_headers()
        with Receiver.arrived:
            Receiver.received.append(self.headers["webhook-id"])
            Receiver.arrived.notify_all()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    server.shutdown()


def wait_for_deliveries(predicate, timeout: float, what: str) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    with Receiver.arrived:
        while not predicate(Receiver.received):
            remaining = deadline - time.monotonic()
            assert remaining > 0, f"timed out waiting for {what}: {len(Receiver.received)} received"
            Receiver.arrived.wait(remaining)


def test_the_whole_tree_killed_during_a_webhook_backlog_loses_no_delivery(
    tmp_path: Path, small_platform: Platform, receiver: str
) -> None:
    with small_platform.sessions() as db_session:
        webhooks.create_endpoint(db_session=db_session, url=receiver, event_types=["video.asset.created"])
        db_session.commit()
    with small_platform.sessions() as db_session:
        for _ in range(40):  # 40 `video.asset.created` events in the outbox
            assets.create_asset(db_session=db_session, new_asset_settings=NewAssetSettings())
        db_session.commit()
        expected = set(db_session.scalars(select(OutboxEvent.id).where(OutboxEvent.type == "video.asset.created")))
    assert len(expected) == 40
    overrides = {"STREAMSTACK_ENCODER": "none", "STREAMSTACK_OUTBOUND_ALLOW_CIDRS": '["127.0.0.0/8"]'}
    with start_up(tmp_path, **overrides) as up:
        wait_for_deliveries(lambda got: len(got) >= 10, 120, "the backlog to start draining")
        killed_at = time.monotonic()
        kill_tree(up.pid)  # every process of `up` at once: supervisor, api, worker, edge, granian workers
        arrived_before_restart = len(Receiver.received)
    assert arrived_before_restart < len(expected), "the backlog drained before the kill: nothing was tested"
    with start_up(tmp_path, **overrides):
        wait_for_deliveries(lambda got: set(got) >= expected, 120, "every webhook after the restart")
        recovered_in = time.monotonic() - killed_at
    received = list(Receiver.received)
    assert set(received) == expected  # no loss (and nothing unexpected)
    duplicates = len(received) - len(set(received))
    print(f"\nwebhook backlog: tree SIGKILLed after {arrived_before_restart}/{len(expected)} deliveries; all "
          f"{len(expected)} delivered {recovered_in:.1f} s after the kill, {duplicates} duplicate(s) (same webhook-id)")


def test_under_up_a_sigkilled_workers_encode_resumes_in_seconds(tmp_path: Path) -> None:
    """What a user of `up` sees: the supervisor restarts the worker, which gives the dead one's job back."""
    clip = make_clip(tmp_path / "long.mp4", size="320x180", seconds=8)
    overrides = {"STREAMSTACK_LADDER": json.dumps(LADDER), "STREAMSTACK_SEGMENT_SECONDS": "1",
                 "STREAMSTACK_KEYFRAME_SECONDS": "1", "STREAMSTACK_X264_PRESET": "medium"}
    with start_up(tmp_path, **overrides) as up:
        settings = Settings(data_dir=tmp_path / "data")  # the files `up` shares: catalog, queue, objects
        platform = build_platform(settings)
        try:
            with CatalogObserver(settings).running() as observer:
                [asset_id] = uploaded_assets(platform, clip.read_bytes(), 1)
                observer.wait_for(lambda: 1 in observer.timelines.get(asset_id, AssetTimeline()).attempts, 120,
                                  "the encode to start")
                worker = child_named(up.pid, "worker")
                assert worker is not None
                killed_at = time.monotonic()
                os.kill(worker, signal.SIGKILL)
                observer.wait_for(lambda: observer.ready_count() == 1, 120, "the asset to be ready")
                timeline = observer.timelines[asset_id]
        finally:
            platform.close()
    assert 2 in timeline.attempts and timeline.ready_at is not None
    redelivered, ready = timeline.attempts[2] - killed_at, timeline.ready_at - killed_at
    print(f"\nunder up: worker SIGKILLed mid-encode; supervisor restart + job redelivered {redelivered:.2f} s, "
          f"asset ready {ready:.2f} s after the kill")
    assert redelivered < settings.queue_visibility_timeout  # given back by the next worker, not timed out
