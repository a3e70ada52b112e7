"""/v1/live-streams as an integrator uses it: Mux's fields, the key shown to write keys only, events in the outbox."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from streamstack.db.base import utcnow
from streamstack.live import service
from streamstack.webhooks.models import OutboxEvent
from tests.conftest import bearer, new_api_key, wait_until


@pytest.fixture
def client(platform):  # type: ignore[no-untyped-def]
    from streamstack.api import create_app

    return TestClient(create_app(platform))


def key(platform, scopes: list[str]) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(new_api_key(platform, *scopes))


def events(platform) -> list[str]:  # type: ignore[no-untyped-def]
    with platform.sessions() as db_session:
        return [e.type for e in db_session.scalars(select(OutboxEvent).order_by(OutboxEvent.created_at))]


def test_create_returns_mux_fields_and_the_key_only_to_write_keys(client, platform) -> None:  # type: ignore[no-untyped-def]
    writer, reader = key(platform, ["write"]), key(platform, ["read"])
    created = client.post("/v1/live-streams", json={"playback_policy": ["signed"], "latency_mode": "standard",
                                                     "reconnect_window": 30}, headers=writer)  # fmt: skip
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["status"] == "idle" and body["stream_key"] and body["reconnect_window"] == 30
    assert body["rtmp_url"] == f"rtmp://127.0.0.1:{platform.settings.rtmp_port}/live"
    prefix = f"srt://127.0.0.1:{platform.settings.srt_port}?streamid=publish:{body['stream_key']}&passphrase="
    passphrase = body["srt_url"].removeprefix(prefix)
    assert body["srt_url"].startswith(prefix) and 10 <= len(passphrase) <= 79, "usable as it is"
    assert passphrase not in body["stream_key"] and body["stream_key"] not in passphrase, "a secret of its own"
    assert [p["policy"] for p in body["playback_ids"]] == ["signed"]
    shown = client.get(f"/v1/live-streams/{body['id']}", headers=reader).json()
    assert shown["stream_key"] is None and shown["id"] == body["id"]
    listed = client.get("/v1/live-streams", headers=reader).json()
    assert [s["id"] for s in listed["data"]] == [body["id"]] and listed["data"][0]["stream_key"] is None
    assert client.post("/v1/live-streams", json={}, headers=reader).status_code == 403
    assert "video.live_stream.created" in events(platform)


@pytest.mark.parametrize("body", [{"reconnect_window": 1801}, {"latency_mode": "ultra"},
                                  {"playback_policy": ["secret"]}, {"max_continuous_duration": 10}])
def test_invalid_settings_are_a_precise_422(client, platform, body) -> None:  # type: ignore[no-untyped-def]
    response = client.post("/v1/live-streams", json=body, headers=key(platform, ["write"]))
    assert response.status_code == 422
    assert response.headers["content-type"] == "application/problem+json"
    assert next(iter(body)) in response.json()["detail"]


def test_disable_enable_reset_and_delete(client, platform) -> None:  # type: ignore[no-untyped-def]
    headers = key(platform, ["write"])
    stream = client.post("/v1/live-streams", json={}, headers=headers).json()
    path = f"/v1/live-streams/{stream['id']}"
    assert client.put(f"{path}/disable", headers=headers).json()["status"] == "disabled"
    with platform.sessions() as db_session, pytest.raises(service.PublishRefused, match="disabled"):
        service.authorize_publish(db_session=db_session, stream_key=stream["stream_key"], settings=platform.settings)
    assert client.put(f"{path}/enable", headers=headers).json()["status"] == "idle"
    reset = client.post(f"{path}/reset-stream-key", headers=headers).json()
    assert reset["stream_key"] != stream["stream_key"]
    with platform.sessions() as db_session, pytest.raises(service.PublishRefused, match="unknown"):
        service.authorize_publish(db_session=db_session, stream_key=stream["stream_key"], settings=platform.settings)
    assert client.put(f"{path}/complete", headers=headers).status_code == 409, "no session to complete"
    assert client.delete(path, headers=headers).status_code == 204
    assert client.get(path, headers=headers).status_code == 404
    assert client.get("/v1/live-streams?cursor=not-a-cursor", headers=headers).status_code == 400
    assert {"video.live_stream.disabled", "video.live_stream.enabled", "video.live_stream.deleted"} <= set(
        events(platform))


def test_a_session_continues_within_the_reconnect_window_and_ends_after_it(platform) -> None:  # type: ignore[no-untyped-def]
    settings = platform.settings
    with platform.sessions() as db_session:
        from streamstack.assets.models import NewAssetSettings
        from streamstack.live.models import LiveStreamCreate

        body = LiveStreamCreate(reconnect_window=10, new_asset_settings=NewAssetSettings())
        stream = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        db_session.commit()
        first = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings)
        with pytest.raises(service.PublishRefused, match="already has a publisher"):
            service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings)
        started = utcnow()
        service.publish_ended(db_session=db_session, live_stream_id=stream.id, settings=settings, now=started)
        again = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings,
                                          now=started + timedelta(seconds=5))  # fmt: skip
        assert again.continues_session and again.asset_id == first.asset_id
        service.publish_ended(db_session=db_session, live_stream_id=stream.id, settings=settings, now=started)
        assert service.sessions_to_end(db_session=db_session, now=started + timedelta(seconds=5)) == []
        ending = service.sessions_to_end(db_session=db_session, now=started + timedelta(seconds=11))
        assert [s.id for s in ending] == [stream.id]
        service.complete_session(db_session=db_session, stream=ending[0], duration=12.0, settings=settings)
        assert stream.status == "idle" and stream.recent_asset_ids == [first.asset_id]
        later = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings)
        assert not later.continues_session and later.asset_id != first.asset_id
    assert events(platform).count("video.live_stream.recording") == 2
    assert "video.asset.live_stream_completed" in events(platform)


def test_the_publisher_of_an_ingest_that_died_reconnects_once_its_lease_is_stale(platform) -> None:  # type: ignore[no-untyped-def]
    """Ingests sharing the catalog keep their publishers' leases alive: a killed one cannot say its publisher left, so
    the reconnect is refused as busy only while the lease is fresh, then continues the session; one that never
    comes back ends its reconnect window after the last heartbeat. A publisher held without a lease never goes."""
    from streamstack.assets.models import NewAssetSettings
    from streamstack.live.models import LiveStreamCreate

    settings, lease = platform.settings, timedelta(seconds=service.INGEST_LEASE_SECONDS)
    with platform.sessions() as db_session:
        body = LiveStreamCreate(reconnect_window=30, new_asset_settings=NewAssetSettings())
        stream = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        unleased = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        db_session.commit()
        started = utcnow()
        first = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings,
                                          now=started, lease=True)  # fmt: skip
        service.authorize_publish(db_session=db_session, stream_key=unleased.stream_key, settings=settings, now=started)
        seen = started + timedelta(seconds=4)
        service.keep_leases(db_session=db_session, live_stream_ids=[stream.id], now=seen)
        with pytest.raises(service.PublishRefused, match="already has a publisher"):
            service.check_publish(db_session=db_session, stream_key=stream.stream_key, now=seen + lease)
        assert service.sessions_to_end(db_session=db_session, now=seen + lease) == []
        again = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings,
                                          now=seen + lease + timedelta(seconds=1), lease=True)  # fmt: skip
        assert again.continues_session and again.asset_id == first.asset_id
        assert service.sessions_to_end(db_session=db_session, now=seen + lease + timedelta(seconds=30)) == []
        ending = service.sessions_to_end(db_session=db_session, now=seen + lease + timedelta(seconds=32))
        assert [s.id for s in ending] == [stream.id], "the reconnect window counts from the last heartbeat"
        with pytest.raises(service.PublishRefused, match="already has a publisher"):
            service.check_publish(db_session=db_session, stream_key=unleased.stream_key,
                                  now=started + timedelta(hours=1))  # fmt: skip


@pytest.fixture
def catalog_platform(catalog_settings):  # type: ignore[no-untyped-def]
    from streamstack.platform import build_platform

    built = build_platform(catalog_settings)
    yield built
    built.close()


def test_a_stale_lease_seen_by_two_ingests_at_once_disconnects_the_stream_once(catalog_platform) -> None:  # type: ignore[no-untyped-def]
    """A killed ingest cannot say its publisher left, so the live ingests that see its lease go stale say it for
    it, as on_publish_done would: not connected, one `video.live_stream.disconnected` (two of them noticing at once,
    both having read the stale row before either writes), the reconnect window from the last heartbeat, a reconnect
    within it a normal one, and idle at the end."""
    from sqlalchemy import event

    from streamstack.assets.models import NewAssetSettings
    from streamstack.live.models import LiveStream, LiveStreamCreate

    platform, lease = catalog_platform, timedelta(seconds=service.INGEST_LEASE_SECONDS)
    settings = platform.settings
    with platform.sessions() as db_session:
        body = LiveStreamCreate(reconnect_window=30, new_asset_settings=NewAssetSettings())
        stream = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        returning = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        db_session.commit()
        stream_id, returning_id, returning_key = stream.id, returning.id, returning.stream_key
        started = utcnow()
        for key in (stream.stream_key, returning_key):
            service.authorize_publish(db_session=db_session, stream_key=key, settings=settings, now=started, lease=True)
        seen = started + timedelta(seconds=4)
        service.keep_leases(db_session=db_session, live_stream_ids=[stream_id, returning_id], now=seen)
        assert service.end_stale_leases(db_session=db_session, settings=settings, now=seen + lease) == [], "fresh"

    noticed, noticed_at = threading.Barrier(2, timeout=30), seen + lease + timedelta(seconds=1)

    def both_read_the_stale_row(conn, cursor, statement, *args) -> None:  # type: ignore[no-untyped-def]
        if "FROM live_streams" in statement and "ingest_seen_at <" in statement and statement.startswith("SELECT"):
            noticed.wait()

    def ingest() -> list[str]:
        with platform.sessions() as db_session:
            return service.end_stale_leases(db_session=db_session, settings=settings, now=noticed_at)

    event.listen(platform.engine, "after_cursor_execute", both_read_the_stale_row)
    try:
        with ThreadPoolExecutor(2) as pool:
            ended = [f.result(timeout=60) for f in [pool.submit(ingest), pool.submit(ingest)]]
    finally:
        event.remove(platform.engine, "after_cursor_execute", both_read_the_stale_row)
    assert sorted(sum(ended, [])) == sorted([stream_id, returning_id]), f"each stream ended once: {ended}"
    disconnected = stream_events(platform, stream_id, "video.live_stream.disconnected")
    assert len(disconnected) == 1 and disconnected[0]["connected"] is False, disconnected
    assert disconnected[0]["status"] == "active", "the session waits for its reconnect, as after a drop"
    with platform.sessions() as db_session:
        row = db_session.get(LiveStream, stream_id)
        assert row is not None and not row.connected and row.status == "active"
        gone_at = row.disconnected_at
        assert gone_at is not None and gone_at.replace(tzinfo=gone_at.tzinfo or UTC) == seen, "the last heartbeat"
        assert service.end_stale_leases(db_session=db_session, settings=settings, now=seen + 2 * lease) == []
        assert service.sessions_to_end(db_session=db_session, now=seen + timedelta(seconds=30)) == []
        ending = service.sessions_to_end(db_session=db_session, now=seen + timedelta(seconds=31))
        assert sorted(s.id for s in ending) == sorted([stream_id, returning_id]), "the window from the heartbeat"
        again = service.authorize_publish(db_session=db_session, stream_key=returning_key, settings=settings,
                                          now=seen + timedelta(seconds=29), lease=True)  # fmt: skip
        assert again.continues_session, "a reconnect within the window is a normal reconnect"
        closed = db_session.get(LiveStream, stream_id)
        assert closed is not None
        service.complete_session(db_session=db_session, stream=closed, duration=4.0, settings=settings)
        assert closed.status == "idle"
    assert len(stream_events(platform, stream_id, "video.live_stream.disconnected")) == 1
    assert [e for e in stream_types(platform, returning_id) if e.endswith(("connected", "active"))][-3:] == [
        "video.live_stream.disconnected", "video.live_stream.connected", "video.live_stream.active"]


def test_a_reconnect_or_close_before_any_ingest_noticed_a_stale_lease_ends_the_dead_connection_first(platform) -> None:  # type: ignore[no-untyped-def]
    """The dead ingest's connection gets its `disconnected` even when the reconnect is the first to see its lease
    stale (before `connected`), or the session is closed first (before `idle`)."""
    from streamstack.assets.models import NewAssetSettings
    from streamstack.live.models import LiveStreamCreate

    settings, lease = platform.settings, timedelta(seconds=service.INGEST_LEASE_SECONDS)
    with platform.sessions() as db_session:
        body = LiveStreamCreate(reconnect_window=30, new_asset_settings=NewAssetSettings())
        stream = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        db_session.commit()
        started = utcnow()
        first = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings,
                                          now=started, lease=True)  # fmt: skip
        again = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings,
                                          now=started + lease + timedelta(seconds=1), lease=True)  # fmt: skip
        assert again.continues_session and again.asset_id == first.asset_id
    types = [t for t in stream_types(platform, stream.id) if t.endswith(("connected", "active"))]
    assert types == ["video.live_stream.connected", "video.live_stream.active", "video.live_stream.disconnected",
                     "video.live_stream.connected", "video.live_stream.active"], types
    with platform.sessions() as db_session:
        closed = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        db_session.commit()
        service.authorize_publish(db_session=db_session, stream_key=closed.stream_key, settings=settings,
                                  now=started, lease=True)  # fmt: skip
        window_passed = started + lease + timedelta(seconds=31)
        ending = service.sessions_to_end(db_session=db_session, now=window_passed)
        assert [s.id for s in ending] == [closed.id]
        service.complete_session(db_session=db_session, stream=ending[0], duration=4.0, settings=settings,
                                 now=window_passed)  # fmt: skip
    types = [t for t in stream_types(platform, closed.id) if t.endswith(("connected", "idle"))]
    assert types == ["video.live_stream.connected", "video.live_stream.disconnected", "video.live_stream.idle"], \
        "a session closed before any ingest noticed ends the dead connection first"  # fmt: skip


def test_a_live_ingest_ends_a_dead_ingests_connection_once_it_reached_the_catalog_for_a_whole_lease(platform) -> None:  # type: ignore[no-untyped-def]
    """The supervision loop that keeps this ingest's leases ends the connections of an ingest that died, but not
    before it has itself reached the catalog for a whole lease: just started, or after the catalog was down (when
    no ingest could renew its leases), a stale lease may be a live ingest's that has not had its turn yet."""
    from streamstack.assets.models import NewAssetSettings
    from streamstack.live.ingest import LiveIngest
    from streamstack.live.models import LiveStreamCreate

    settings, lease, clock = platform.settings, timedelta(seconds=service.INGEST_LEASE_SECONDS), [utcnow()]
    ingest = LiveIngest(platform, 0, hand_over=True, clock=lambda: clock[0])

    def tick(seconds: float) -> bool:
        """The next heartbeat, `seconds` later on the ingest's clock: whether the stream is still connected."""
        clock[0] += timedelta(seconds=seconds)
        ingest.lease_kept_at = 0.0  # a heartbeat is due (LEASE_HEARTBEAT_SECONDS of monotonic time have passed)
        ingest.supervise_once()
        with platform.sessions() as db_session:
            row = service.get_live_stream(db_session=db_session, live_stream_id=stream_id)
            assert row is not None
            return row.connected

    with platform.sessions() as db_session:
        body = LiveStreamCreate(reconnect_window=120, new_asset_settings=NewAssetSettings())
        stream = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        db_session.commit()
        stream_id, seen = stream.id, clock[0] - 2 * lease  # the dead ingest's last heartbeat
        service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings, now=seen,
                                  lease=True)  # fmt: skip
    assert tick(0) and tick(lease.total_seconds() - 1), "just started: not before a whole lease of its own"

    def catalog_down() -> None:
        ingest.stopping.set()
        raise OSError("the catalog is down")

    ingest.supervise_once = catalog_down  # type: ignore[method-assign]
    ingest.supervise()  # one failed round
    del ingest.supervise_once
    ingest.stopping.clear()
    assert tick(2) and tick(lease.total_seconds() - 1), "nor right after the catalog was down"
    assert not tick(1), "a whole lease later, the dead ingest's publisher left"
    assert stream_types(platform, stream_id).count("video.live_stream.disconnected") == 1
    with platform.sessions() as db_session:
        row = service.get_live_stream(db_session=db_session, live_stream_id=stream_id)
        assert row is not None and row.status == "active" and row.active_asset_id is not None
        assert row.disconnected_at is not None and row.disconnected_at.replace(tzinfo=UTC) == seen


def test_an_ingest_that_stalled_past_its_lease_drops_its_publisher_to_reconnect(platform) -> None:  # type: ignore[no-untyped-def]
    """An ingest that was only stalled (no heartbeat for a whole lease) finds that another ingest said its publisher
    left: it hands the session over, so nginx drops the publisher, whose reconnect continues the session as after
    any drop; no second `disconnected` goes out."""
    from streamstack.assets.models import NewAssetSettings
    from streamstack.live.ingest import LiveIngest, RunningSession
    from streamstack.live.models import LiveStreamCreate
    from streamstack.live.session import LiveSession

    settings, lease, clock = platform.settings, timedelta(seconds=service.INGEST_LEASE_SECONDS), [utcnow()]
    stalled = LiveIngest(platform, 0, hand_over=True, clock=lambda: clock[0])
    with platform.sessions() as db_session:
        body = LiveStreamCreate(reconnect_window=120, new_asset_settings=NewAssetSettings())
        stream = service.create_live_stream(db_session=db_session, body=body, settings=settings)
        db_session.commit()
        key = stream.stream_key
        grant = service.authorize_publish(db_session=db_session, stream_key=key, settings=settings, now=clock[0],
                                          lease=True)  # fmt: skip
    session = LiveSession(asset_id=grant.asset_id, prefix=grant.prefix, store=platform.store, settings=settings,
                          low_latency=False, sessions=platform.sessions)  # fmt: skip
    stalled.sessions[grant.live_stream_id] = RunningSession(grant.live_stream_id, session, key, connected=True)
    publisher = f"call=update_publish&name={key}".encode()
    assert stalled.on_update(publisher), "its publisher stays while it holds the lease"
    clock[0] += lease + timedelta(seconds=1)
    with platform.sessions() as db_session:
        assert service.end_stale_leases(db_session=db_session, settings=settings, now=clock[0]) == [stream.id]
    stalled.supervise_once()  # its next heartbeat, once the stall is over
    wait_until(lambda: not stalled.sessions, 30, "the stalled ingest to hand the session over")
    assert not stalled.on_update(publisher), "nginx drops the publisher, which reconnects"
    assert stream_types(platform, stream.id).count("video.live_stream.disconnected") == 1
    with platform.sessions() as db_session:
        again = service.authorize_publish(db_session=db_session, stream_key=key, settings=settings,
                                          now=clock[0] + timedelta(seconds=2), lease=True)  # fmt: skip
    assert again.continues_session and again.asset_id == grant.asset_id


def stream_types(platform, object_id: str) -> list[str]:  # type: ignore[no-untyped-def]
    with platform.sessions() as db_session:
        query = select(OutboxEvent).where(OutboxEvent.object_id == object_id).order_by(OutboxEvent.created_at)
        return [e.type for e in db_session.scalars(query)]


def stream_events(platform, object_id: str, type_: str) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    with platform.sessions() as db_session:
        query = select(OutboxEvent).where(OutboxEvent.object_id == object_id, OutboxEvent.type == type_)
        return [e.data for e in db_session.scalars(query)]


def test_check_publish_answers_as_authorize_would_and_changes_nothing(platform) -> None:  # type: ignore[no-untyped-def]
    """The ingest asks before it checks the video (and the SRT passphrase): a publisher that fails those leaves no
    trace."""
    settings = platform.settings
    with platform.sessions() as db_session:
        from streamstack.live.models import LiveStreamCreate

        stream = service.create_live_stream(db_session=db_session, body=LiveStreamCreate(test=True), settings=settings)
        db_session.commit()
        created = events(platform)
        check = service.check_publish(db_session=db_session, stream_key=stream.stream_key)
        assert check == service.PublishCheck(stream.id, stream.srt_passphrase, 300.0)
        assert not stream.connected and stream.active_asset_id is None and events(platform) == created
        with pytest.raises(service.PublishRefused, match="unknown") as unknown:
            service.check_publish(db_session=db_session, stream_key="not-" + stream.stream_key)
        assert not unknown.value.busy
        service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings)
        with pytest.raises(service.PublishRefused, match="already has a publisher") as busy:
            service.check_publish(db_session=db_session, stream_key=stream.stream_key)
        assert busy.value.busy
        service.publish_ended(db_session=db_session, live_stream_id=stream.id, settings=settings)
        left = service.check_publish(db_session=db_session, stream_key=stream.stream_key).seconds_left
        assert 290 < left <= 300, "a reconnect gets what is left of the session's limit"
        service.set_enabled(db_session=db_session, stream=stream, enabled=False, settings=settings)
        with pytest.raises(service.PublishRefused, match="disabled"):
            service.check_publish(db_session=db_session, stream_key=stream.stream_key)


@pytest.mark.parametrize(("body", "limit"), [({"test": True}, 300), ({"max_continuous_duration": 600}, 600)])
def test_a_session_ends_at_its_limit_and_a_publisher_past_it_starts_a_new_one(  # type: ignore[no-untyped-def]
    platform, body: dict, limit: int
) -> None:
    """A test stream's 5 minutes and max_continuous_duration, read against an injected clock (no waiting)."""
    from streamstack.assets.models import NewAssetSettings
    from streamstack.live.models import LiveStreamCreate

    settings = platform.settings
    started = utcnow()
    with platform.sessions() as db_session:
        create = LiveStreamCreate(reconnect_window=60, new_asset_settings=NewAssetSettings(), **body)
        stream = service.create_live_stream(db_session=db_session, body=create, settings=settings)
        db_session.commit()
        first = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings,
                                          now=started)  # fmt: skip
        assert first.max_seconds == limit, "the relay stops reading at the limit (-t)"
        assert service.sessions_to_end(db_session=db_session, now=started + timedelta(seconds=limit - 1)) == []
        ending = service.sessions_to_end(db_session=db_session, now=started + timedelta(seconds=limit))
        assert [s.id for s in ending] == [stream.id], "connected or not, the session ends at its limit"
        service.publish_ended(db_session=db_session, live_stream_id=stream.id, settings=settings,
                              now=started + timedelta(seconds=limit))  # fmt: skip
        with pytest.raises(service.PublishRefused, match="duration limit"):  # within the window, but over
            service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings,
                                      now=started + timedelta(seconds=limit + 1))  # fmt: skip
        service.complete_session(db_session=db_session, stream=ending[0], duration=float(limit), settings=settings)
        assert stream.status == "idle" and stream.recent_asset_ids == [first.asset_id]
        later = service.authorize_publish(db_session=db_session, stream_key=stream.stream_key, settings=settings,
                                          now=started + timedelta(seconds=limit + 2))  # fmt: skip
        assert not later.continues_session and later.asset_id != first.asset_id and later.max_seconds == limit
    recorded = events(platform)
    for event in ("video.live_stream.disconnected", "video.live_stream.idle", "video.asset.live_stream_completed",
                  "video.asset.ready"):  # fmt: skip
        assert event in recorded, event


def test_a_stream_without_new_asset_settings_records_nothing(client, platform) -> None:  # type: ignore[no-untyped-def]
    """Mux's rule: no new_asset_settings, no recording; the session still has a home for its live objects."""
    headers = key(platform, ["write"])
    stream = client.post("/v1/live-streams", json={"reconnect_window": 10}, headers=headers).json()
    assert stream["new_asset_settings"] is None
    settings = platform.settings
    with platform.sessions() as db_session:
        grant = service.authorize_publish(db_session=db_session, stream_key=stream["stream_key"], settings=settings)
        assert grant.asset_id is None and grant.prefix.startswith(f"live/{stream['id']}/")
        started = utcnow()
        service.publish_ended(db_session=db_session, live_stream_id=stream["id"], settings=settings, now=started)
        again = service.authorize_publish(db_session=db_session, stream_key=stream["stream_key"], settings=settings,
                                          now=started + timedelta(seconds=5))  # fmt: skip
        assert again.continues_session and again.prefix == grant.prefix, "a reconnect continues the same session"
    active = client.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()
    assert active["status"] == "active" and active["active_asset_id"] is None
    assert client.get("/v1/assets", headers=headers).json()["data"] == []
    assert client.put(f"/v1/live-streams/{stream['id']}/complete", headers=headers).status_code == 200
    with platform.sessions() as db_session:
        ending = service.sessions_to_end(db_session=db_session)
        assert [s.id for s in ending] == [stream["id"]]
        service.complete_session(db_session=db_session, stream=ending[0], duration=None, settings=settings)
        later = service.authorize_publish(db_session=db_session, stream_key=stream["stream_key"], settings=settings)
        assert not later.continues_session and later.prefix != grant.prefix, "a new session never reuses URIs"
    idle = client.get(f"/v1/live-streams/{stream['id']}", headers=headers).json()
    assert idle["recent_asset_ids"] == [] and client.get("/v1/assets", headers=headers).json()["data"] == []
    assert "video.live_stream.recording" not in events(platform)
    assert not any(e.startswith("video.asset.") for e in events(platform))
