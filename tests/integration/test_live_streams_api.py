"""/v1/live-streams as an integrator uses it: Mux's fields, the key shown to write keys only, events in the outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from streamstack.db.base import utcnow
from streamstack.live import service
from streamstack.webhooks.models import OutboxEvent
from tests.conftest import bearer, new_api_key


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
