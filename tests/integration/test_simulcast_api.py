"""Simulcast targets through the API: Mux's shape, rtmp(s) only, the SSRF guard, keys hidden from readers, events."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from streamstack.live import simulcast
from streamstack.settings import Settings
from streamstack.webhooks.models import OutboxEvent
from tests.conftest import bearer, make_settings, new_api_key

PUBLIC = "rtmp://a.rtmp.example.invalid/live2"  # accepted before it resolves (as webhooks are); never dialled


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """No outbound allow-list: loopback and private targets are refused unless simulcast_allow_private."""
    return make_settings(tmp_path / "data", outbound_allow_cidrs=[])


@pytest.fixture
def client(platform):  # type: ignore[no-untyped-def]
    from streamstack.api import create_app

    return TestClient(create_app(platform))


@pytest.fixture
def writer(platform) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(new_api_key(platform, "write"))


@pytest.fixture
def reader(platform) -> dict[str, str]:  # type: ignore[no-untyped-def]
    return bearer(new_api_key(platform, "read"))


def events(platform, object_id: str) -> list[OutboxEvent]:  # type: ignore[no-untyped-def]
    with platform.sessions() as db_session:
        query = select(OutboxEvent).where(OutboxEvent.object_id == object_id).order_by(OutboxEvent.created_at)
        return list(db_session.scalars(query))


def test_targets_at_creation_and_crud_with_the_key_only_for_writers(client, platform, writer, reader) -> None:  # type: ignore[no-untyped-def]
    created = client.post("/v1/live-streams", headers=writer, json={"simulcast_targets": [
        {"url": PUBLIC, "stream_key": "first-secret-key-1234", "passthrough": "youtube"}]})
    assert created.status_code == 201, created.text
    stream = created.json()
    [first] = stream["simulcast_targets"]
    assert first["status"] == "idle" and first["url"] == PUBLIC and first["stream_key"] == "first-secret-key-1234"
    assert first["id"].startswith("st_") and first["passthrough"] == "youtube" and first["error"] is None
    path = f"/v1/live-streams/{stream['id']}/simulcast-targets"

    added = client.post(path, headers=writer, json={"url": "rtmps://live.example.invalid/rtmp/", "stream_key": "k2"})
    assert added.status_code == 201, added.text
    second = added.json()
    assert second["stream_key"] == "k2" and second["live_stream_id"] == stream["id"]

    listed = client.get(path, headers=reader).json()["data"]
    assert [t["id"] for t in listed] == [first["id"], second["id"]]
    assert [t["stream_key"] for t in listed] == ["***1234", "***"], "readers never see a usable key"
    shown = client.get(f"{path}/{first['id']}", headers=reader).json()
    assert shown["stream_key"] == "***1234" and shown["status"] == "idle"
    as_reader = client.get(f"/v1/live-streams/{stream['id']}", headers=reader).json()
    assert "first-secret-key-1234" not in str(as_reader)
    assert client.post(path, headers=reader, json={"url": PUBLIC}).status_code == 403
    assert client.delete(f"{path}/{first['id']}", headers=reader).status_code == 403

    assert client.delete(f"{path}/{first['id']}", headers=writer).status_code == 204
    assert client.get(f"{path}/{first['id']}", headers=writer).status_code == 404
    assert client.delete(f"{path}/{first['id']}", headers=writer).status_code == 404
    assert [t["id"] for t in client.get(path, headers=writer).json()["data"]] == [second["id"]]
    assert [e.type for e in events(platform, first["id"])] == [
        "video.live_stream.simulcast_target.created", "video.live_stream.simulcast_target.deleted"]
    assert all("first-secret-key-1234" not in str(e.data) for e in events(platform, first["id"]))

    other = client.post("/v1/live-streams", headers=writer, json={}).json()
    elsewhere = f"/v1/live-streams/{other['id']}/simulcast-targets/{second['id']}"
    assert client.get(elsewhere, headers=writer).status_code == 404, "a target belongs to its own stream"
    assert client.get("/v1/live-streams/ls_nope/simulcast-targets", headers=writer).status_code == 404

    assert client.delete(f"/v1/live-streams/{stream['id']}", headers=writer).status_code == 204
    assert [e.type for e in events(platform, second["id"])][-1] == "video.live_stream.simulcast_target.deleted"
    with platform.sessions() as db_session:
        assert simulcast.targets_of(db_session, stream["id"]) == [], "deleting the stream deletes its targets"


@pytest.mark.parametrize(("url", "says"), [
    ("https://a.rtmp.example.invalid/live", "must be an rtmp:// or rtmps:// URL"),
    ("srt://a.rtmp.example.invalid:9000", "must be an rtmp:// or rtmps:// URL"),
    ("file:///etc/passwd", "must be an rtmp:// or rtmps:// URL"),
    ("rtmp:///live", "has no host"),
    ("rtmp://user:pw@a.rtmp.example.invalid/live", "must not carry credentials"),
    ("rtmp://a.rtmp.example.invalid/live extra=1", "printable ASCII without spaces"),
    ("rtmp://127.0.0.1:1935/live", "non-public address (127.0.0.1)"),
    ("rtmp://10.1.2.3/live", "non-public address (10.1.2.3)"),
    ("rtmp://169.254.169.254/live", "non-public address"),
    ("rtmp://a.rtmp.example.invalid:99999/live", "not a valid URL"),
    ("rtmp://a.rtmp.example.invalid:port/live", "not a valid URL"),
    ("rtmp://a..b/live", "not a valid URL"),
    ("rtmp://[::1/live", "not a valid URL"),
])
def test_a_target_that_is_not_public_rtmp_is_a_precise_422(client, writer, url: str, says: str) -> None:  # type: ignore[no-untyped-def]
    stream = client.post("/v1/live-streams", headers=writer, json={}).json()
    response = client.post(f"/v1/live-streams/{stream['id']}/simulcast-targets", headers=writer, json={"url": url})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body = response.json()
    assert body["detail"].startswith("body.url: simulcast target URL") and says in body["detail"], body["detail"]
    assert body["errors"][0]["loc"] == ["body", "url"]
    at_creation = client.post("/v1/live-streams", headers=writer, json={"simulcast_targets": [{"url": PUBLIC},
                                                                                               {"url": url}]})
    assert at_creation.status_code == 422 and at_creation.json()["errors"][0]["loc"] == [
        "body", "simulcast_targets", 1, "url"]
    assert len(client.get("/v1/live-streams", headers=writer).json()["data"]) == 1, "nothing half-created"


def test_a_stream_key_with_spaces_or_a_missing_url_is_a_422(client, writer) -> None:  # type: ignore[no-untyped-def]
    stream = client.post("/v1/live-streams", headers=writer, json={}).json()
    path = f"/v1/live-streams/{stream['id']}/simulcast-targets"
    assert "stream_key" in client.post(path, headers=writer, json={"url": PUBLIC, "stream_key": "a b"}).json()["detail"]
    assert "url" in client.post(path, headers=writer, json={"stream_key": "k"}).json()["detail"]


def test_private_targets_need_the_explicit_setting_and_link_local_stays_refused(tmp_path: Path) -> None:
    from streamstack.api import create_app
    from streamstack.platform import build_platform

    allowed = build_platform(make_settings(tmp_path / "data", outbound_allow_cidrs=[], simulcast_allow_private=True))
    try:
        client, headers = TestClient(create_app(allowed)), bearer(new_api_key(allowed, "write"))
        stream = client.post("/v1/live-streams", headers=headers, json={}).json()
        path = f"/v1/live-streams/{stream['id']}/simulcast-targets"
        for url in ("rtmp://127.0.0.1:19350/live", "rtmp://192.168.1.20/live", "rtmp://[::1]:1935/live"):
            assert client.post(path, headers=headers, json={"url": url}).status_code == 201, url
        metadata = client.post(path, headers=headers, json={"url": "rtmp://169.254.169.254/live"})
        assert metadata.status_code == 422 and "non-public address" in metadata.json()["detail"]
    finally:
        allowed.close()


def test_a_stream_has_at_most_ten_targets(client, writer) -> None:  # type: ignore[no-untyped-def]
    stream = client.post("/v1/live-streams", headers=writer, json={}).json()
    path = f"/v1/live-streams/{stream['id']}/simulcast-targets"
    for index in range(10):
        assert client.post(path, headers=writer, json={"url": f"{PUBLIC}/{index}"}).status_code == 201
    refused = client.post(path, headers=writer, json={"url": PUBLIC})
    assert refused.status_code == 409 and "at most 10" in refused.json()["detail"]
    too_many = client.post("/v1/live-streams", headers=writer, json={"simulcast_targets": [{"url": PUBLIC}] * 11})
    assert too_many.status_code == 422 and "simulcast_targets" in too_many.json()["detail"]


def test_status_changes_are_recorded_once_each_with_the_reason_and_no_key(platform) -> None:  # type: ignore[no-untyped-def]
    from streamstack.live import service
    from streamstack.live.models import LiveStreamCreate, SimulcastTargetCreate

    with platform.sessions() as db_session:
        stream = service.create_live_stream(db_session=db_session, settings=platform.settings, body=LiveStreamCreate(
            simulcast_targets=[SimulcastTargetCreate(url=PUBLIC, stream_key="sekrit-key-9876")]))
        db_session.commit()
        target = simulcast.targets_of(db_session, stream.id)[0]
        for status in ("starting", "starting", "broadcasting", "errored", "errored", "idle"):
            reason = simulcast.redact("Error opening output rtmp://x/live2/sekrit-key-9876", target)
            assert simulcast.set_status(db_session, target.id, status, reason if status == "errored" else None)
        db_session.refresh(target)
        assert target.status == "idle" and target.error is None
    types = [e.type.rsplit(".", 1)[1] for e in events(platform, target.id)]
    assert types == ["created", "starting", "broadcasting", "errored", "idle"]
    errored = next(e for e in events(platform, target.id) if e.type.endswith("errored"))
    assert errored.data["error"] == "Error opening output rtmp://x/live2/***"
    assert errored.data["stream_key"] == "***9876"
    with platform.sessions() as db_session:
        assert not simulcast.set_status(db_session, "st_gone", "errored", "x"), "a deleted target reports nothing"


def test_the_ingest_starts_restreams_of_live_streams_and_idles_the_rest(platform) -> None:  # type: ignore[no-untyped-def]
    """reconcile, as the ingest's supervision tick runs it: start, stop and idle, whatever protocol the session uses."""
    from streamstack.live import service
    from streamstack.live.fanout import FlvFanout
    from streamstack.live.models import LiveStreamCreate, SimulcastTargetCreate
    from streamstack.live.restream import SimulcastRunner
    from tests.conftest import wait_until

    with platform.sessions() as db_session:
        # a public address (nothing dials it: no publisher feeds the fan-outs, so ffmpeg never opens its output)
        target = SimulcastTargetCreate(url="rtmp://93.184.216.34/live2", stream_key="k")
        body = LiveStreamCreate(simulcast_targets=[target])
        rtmp = service.create_live_stream(db_session=db_session, settings=platform.settings, body=body)
        srt = service.create_live_stream(db_session=db_session, settings=platform.settings, body=body)
        db_session.commit()
        rtmp_target, srt_target = (simulcast.targets_of(db_session, s.id)[0].id for s in (rtmp, srt))

    def status(target_id: str) -> tuple[str, str | None]:
        with platform.sessions() as db_session:
            target = simulcast.get_target(db_session, rtmp.id if target_id == rtmp_target else srt.id, target_id)
            return target.status, target.error

    runner = SimulcastRunner(platform.sessions, platform.settings)
    sources = {rtmp.id: FlvFanout(), srt.id: FlvFanout()}  # no connection yet: a restream sees an empty input
    try:
        runner.reconcile(sources)
        assert set(runner.restreamers) == {rtmp_target, srt_target}
        wait_until(lambda: status(rtmp_target) == ("starting", None) == status(srt_target), 10, "starting")
        runner.reconcile(sources)
        assert status(rtmp_target)[0] == "starting", "a source that is not there yet is not the target's fault"
        first = runner.restreamers[srt_target]
        runner.reconcile({**sources, srt.id: FlvFanout()})  # the stream's session was replaced
        assert runner.restreamers[srt_target] is not first and first.stopping.is_set()
        runner.reconcile({})
        assert runner.restreamers == {} and status(rtmp_target) == ("idle", None) == status(srt_target)
    finally:
        runner.stop_all()
    types = [e.type.rsplit(".", 1)[1] for e in events(platform, rtmp_target)]
    assert types == ["created", "starting", "idle"]


def test_webhook_endpoints_can_subscribe_to_simulcast_target_events(client, writer) -> None:  # type: ignore[no-untyped-def]
    types = [f"video.live_stream.simulcast_target.{s}" for s in ("created", "starting", "broadcasting", "errored",
                                                                 "idle", "deleted")]
    response = client.post("/v1/webhooks", headers=writer, json={"url": "https://hooks.example.invalid/mux",
                                                                 "event_types": types})
    assert response.status_code == 201, response.text
    assert response.json()["event_types"] == types
    unknown = client.post("/v1/webhooks", headers=writer, json={
        "url": "https://hooks.example.invalid/mux", "event_types": ["video.live_stream.simulcast_target.up"]})
    assert unknown.status_code == 422


def test_a_target_that_stops_resolving_errors_at_start_and_is_counted(platform, fresh_metrics) -> None:  # type: ignore[no-untyped-def]
    from streamstack.live import service
    from streamstack.live.fanout import FlvFanout
    from streamstack.live.models import LiveStreamCreate, SimulcastTargetCreate
    from streamstack.live.restream import SimulcastRunner
    from tests.conftest import wait_until

    fresh_metrics.configure_metrics(service="ingest", enabled=True)
    with platform.sessions() as db_session:
        body = LiveStreamCreate(simulcast_targets=[SimulcastTargetCreate(url=PUBLIC, stream_key="k")])
        stream = service.create_live_stream(db_session=db_session, settings=platform.settings, body=body)
        db_session.commit()
        target_id = simulcast.targets_of(db_session, stream.id)[0].id

    def target() -> tuple[str, str | None]:
        with platform.sessions() as db_session:
            row = simulcast.get_target(db_session, stream.id, target_id)
            return row.status, row.error

    runner = SimulcastRunner(platform.sessions, platform.settings)
    try:
        runner.reconcile({stream.id: FlvFanout()})
        status, error = wait_until(lambda: (t := target())[0] == "errored" and t, 10, "errored")
        assert "does not resolve" in error, "checked again at every start, before anything is dialled"
    finally:
        runner.stop_all()
    registry = fresh_metrics.get_registry()
    assert registry.get_sample_value("streamstack_live_simulcast_failures_total") >= 1
    assert registry.get_sample_value("streamstack_live_simulcast_broadcasting") == 0
    assert target() == ("idle", None), "the ingest stopping leaves its targets idle"


def test_two_identical_requests_with_one_idempotency_key_make_one_target(client, writer) -> None:  # type: ignore[no-untyped-def]
    stream = client.post("/v1/live-streams", headers=writer, json={}).json()
    path = f"/v1/live-streams/{stream['id']}/simulcast-targets"
    headers = {**writer, "Idempotency-Key": "add-youtube-once"}
    first, again = (client.post(path, headers=headers, json={"url": PUBLIC, "stream_key": "k"}) for _ in range(2))
    assert first.status_code == again.status_code == 201 and first.json()["id"] == again.json()["id"]
    assert len(client.get(path, headers=writer).json()["data"]) == 1
    other = client.post(path, headers=headers, json={"url": PUBLIC, "stream_key": "another"})
    assert other.status_code == 422, "the same key with another body is refused"


def test_an_unexpected_failure_errors_the_target_and_the_restream_keeps_retrying(platform, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    from streamstack.live import restream, service
    from streamstack.live.fanout import FlvFanout
    from streamstack.live.models import LiveStreamCreate, SimulcastTargetCreate
    from tests.conftest import wait_until

    calls: list[str] = []

    def broken(target, settings):  # type: ignore[no-untyped-def]
        calls.append(target.id)
        raise RuntimeError("boom")

    monkeypatch.setattr(restream, "destination", broken)
    monkeypatch.setattr(restream, "RETRY_SECONDS", (0.1,))
    with platform.sessions() as db_session:
        body = LiveStreamCreate(simulcast_targets=[SimulcastTargetCreate(url=PUBLIC)])
        stream = service.create_live_stream(db_session=db_session, settings=platform.settings, body=body)
        db_session.commit()
        target_id = simulcast.targets_of(db_session, stream.id)[0].id
    runner = restream.SimulcastRunner(platform.sessions, platform.settings)
    try:
        runner.reconcile({stream.id: FlvFanout()})
        wait_until(lambda: len(calls) >= 3, 10, "retries after an unexpected failure")
        assert runner.restreamers[target_id].thread.is_alive()
        with platform.sessions() as db_session:
            target = simulcast.get_target(db_session, stream.id, target_id)
            assert target.status == "errored" and target.error == "the restream could not start: RuntimeError"
    finally:
        runner.stop_all()
