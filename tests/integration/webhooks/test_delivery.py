"""The dispatcher against a real local receiver: signatures, retries, a receiver that is down, many workers."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest
from sqlalchemy import select

from streamstack.platform import Platform, build_platform
from streamstack.settings import Settings
from streamstack.webhooks.dispatcher import Backoff, dispatch_due
from streamstack.webhooks.models import WebhookDelivery
from streamstack.webhooks.outbox import record_event
from streamstack.webhooks.service import create_endpoint
from tests.conftest import wait_until
from tests.integration.webhooks.conftest import SECRET, Receiver, ReceiverServer

FAST = Backoff(base_seconds=0.05, cap_seconds=0.2)


def subscribe(platform: Platform, url: str, event_types: list[str] | None = None) -> str:
    with platform.sessions() as db_session:
        endpoint = create_endpoint(db_session=db_session, url=url, event_types=event_types or ["video.asset.ready"],
                                   secret=SECRET)
        db_session.commit()
        return endpoint.id


def announce(platform: Platform, type_: str = "video.asset.ready", asset_id: str = "as_1") -> str:
    with platform.sessions() as db_session:
        event = record_event(db_session=db_session, type=type_, object_type="asset", object_id=asset_id,
                             data={"id": asset_id, "status": "ready"})
        db_session.commit()
        return event.id


def deliveries(platform: Platform) -> list[WebhookDelivery]:
    with platform.sessions() as db_session:
        return list(db_session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def run_until(platform: Platform, done: Callable[[], bool], *, seconds: float = 10.0) -> None:
    deadline = time.monotonic() + seconds
    while not done():
        assert time.monotonic() < deadline, f"not done after {seconds} s: {deliveries(platform)}"
        dispatch_due(platform, backoff=FAST)
        time.sleep(0.02)


def test_event_is_delivered_signed_with_the_mux_payload(platform, receiver):
    endpoint_id = subscribe(platform, receiver.url)
    event_id = announce(platform)
    run_until(platform, lambda: len(receiver.requests) == 1)

    [request] = receiver.requests
    assert request.verified
    assert request.headers["webhook-id"] == event_id
    assert request.headers["content-type"] == "application/json"
    assert request.payload["type"] == "video.asset.ready" and request.payload["id"] == event_id
    assert request.payload["object"] == {"type": "asset", "id": "as_1"}
    assert request.payload["data"] == {"id": "as_1", "status": "ready"}
    assert request.payload["created_at"].endswith("Z")
    [delivery] = deliveries(platform)
    assert (delivery.endpoint_id, delivery.status, delivery.attempts) == (endpoint_id, "delivered", 1)
    assert delivery.last_status_code == 200 and delivery.delivered_at is not None


def test_a_receiver_that_fails_twice_still_gets_the_event(platform, receiver):
    receiver.statuses = [500, 503]
    subscribe(platform, receiver.url)
    event_id = announce(platform)
    run_until(platform, lambda: deliveries(platform) and deliveries(platform)[0].status == "delivered")

    assert [r.verified for r in receiver.requests] == [True, True, True]
    assert {r.headers["webhook-id"] for r in receiver.requests} == {event_id}
    [delivery] = deliveries(platform)
    assert delivery.attempts == 3 and delivery.last_status_code == 200 and delivery.last_error is None


def test_a_receiver_that_is_down_loses_no_event(platform, receiver_server: ReceiverServer):
    receiver: Receiver = receiver_server.receiver
    subscribe(platform, receiver.url)
    announce(platform)
    run_until(platform, lambda: deliveries(platform)[0].attempts >= 2 if deliveries(platform) else False)
    down = deliveries(platform)[0]
    assert down.status == "pending" and down.last_status_code is None and "ConnectError" in down.last_error

    receiver_server.start()
    run_until(platform, lambda: deliveries(platform)[0].status == "delivered")
    assert len(receiver.delivered()) == 1


def test_only_subscribed_endpoints_get_an_event(platform, receiver):
    subscribe(platform, receiver.url, ["video.asset.errored"])
    everything = subscribe(platform, receiver.url, ["*"])
    announce(platform, "video.asset.ready")
    run_until(platform, lambda: len(receiver.requests) == 1)
    assert [d.endpoint_id for d in deliveries(platform)] == [everything]


def test_delivery_gives_up_after_the_maximum_age(tmp_path, receiver):
    from tests.conftest import make_settings

    platform = build_platform(make_settings(tmp_path / "data", webhook_max_age_seconds=0))
    try:
        receiver.statuses = [500] * 5
        subscribe(platform, receiver.url)
        announce(platform)
        run_until(platform, lambda: bool(deliveries(platform)) and deliveries(platform)[0].status == "failed")
        [delivery] = deliveries(platform)
        assert delivery.attempts == 1 and delivery.last_status_code == 500 and delivery.next_attempt_at is None
    finally:
        platform.close()


def test_an_attempt_is_bounded_by_the_timeout(tmp_path, receiver):
    from tests.conftest import make_settings

    platform = build_platform(make_settings(tmp_path / "data", webhook_timeout_seconds=0.3))
    try:
        receiver.delay_seconds = 2.0
        subscribe(platform, receiver.url)
        announce(platform)
        started = time.monotonic()
        dispatch_due(platform, backoff=FAST)
        assert time.monotonic() - started < 1.5
        [delivery] = deliveries(platform)
        assert delivery.status == "pending" and "Timeout" in delivery.last_error
    finally:
        platform.close()


@pytest.fixture
def catalog_platform(catalog_settings: Settings) -> Iterator[Platform]:
    built = build_platform(catalog_settings)
    yield built
    built.close()


def test_workers_racing_on_the_same_outbox_send_each_attempt_once(catalog_platform, receiver):
    receiver.delay_seconds = 0.05
    subscribe(catalog_platform, receiver.url)
    event_ids = {announce(catalog_platform, asset_id=f"as_{n}") for n in range(10)}
    stop = threading.Event()
    errors: list[BaseException] = []

    def worker() -> None:
        while not stop.is_set():
            try:
                dispatch_due(catalog_platform, backoff=FAST)
            except Exception as exc:  # a losing SQLite writer may fail one tick; the worker's next tick retries
                errors.append(exc)
            time.sleep(0.01)

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    try:  # until every delivery is recorded as done (nothing is due after that), not for a while
        wait_until(lambda: [d.status for d in deliveries(catalog_platform)] == ["delivered"] * 10, 60,
                   "every delivery to be recorded as delivered", poll=0.05)
    finally:
        stop.set()
        for thread in threads:
            thread.join()

    assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(event_ids)
    assert len(deliveries(catalog_platform)) == 10
    assert all(d.status == "delivered" and d.attempts == 1 for d in deliveries(catalog_platform))


def test_a_target_that_is_no_longer_public_is_not_called(platform, receiver):
    """The allow-list is checked at every attempt, so DNS that turns private later cannot be used for SSRF."""
    from streamstack.webhooks.dispatcher import dispatch_due

    subscribe(platform, receiver.url)
    announce(platform)
    platform.settings = platform.settings.model_copy(update={"outbound_allow_cidrs": []})
    dispatch_due(platform)

    assert receiver.requests == []
    [delivery] = deliveries(platform)
    assert delivery.status == "pending" and delivery.attempts == 1
    assert "non-public" in (delivery.last_error or "")


def test_the_address_a_delivery_connects_to_is_the_one_checked(platform, receiver, monkeypatch):
    """DNS rebinding: the name is public (allow-listed 127.0.0.2) when checked, private (127.0.0.1) when dialled."""
    import socket

    real_getaddrinfo = socket.getaddrinfo
    answers = ["127.0.0.2"]  # the first lookup only; every later one says 127.0.0.1, where the receiver listens

    def rebinding(host, port, *args, **kwargs):  # type: ignore[no-untyped-def]
        if host != "hooks.test":
            return real_getaddrinfo(host, port, *args, **kwargs)
        address = answers.pop(0) if answers else "127.0.0.1"
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    platform.settings = platform.settings.model_copy(update={"outbound_allow_cidrs": ["127.0.0.2/32"]})
    subscribe(platform, receiver.url.replace("127.0.0.1", "hooks.test"))
    announce(platform)
    dispatch_due(platform)

    assert receiver.requests == []
    [delivery] = deliveries(platform)
    assert delivery.status == "pending"
    assert delivery.last_error == ("webhook URL resolves to a non-public address (127.0.0.1); webhooks to private, "
                                   "loopback and link-local networks are refused")


def test_a_delivery_dials_the_checked_address_with_the_url_host_name(platform, receiver, monkeypatch):
    import socket

    real_getaddrinfo = socket.getaddrinfo
    monkeypatch.setattr(socket, "getaddrinfo", lambda host, port, *a, **k: real_getaddrinfo(
        "127.0.0.1" if host == "hooks.test" else host, port, *a, **k))
    subscribe(platform, receiver.url.replace("127.0.0.1", "hooks.test"))
    announce(platform)
    run_until(platform, lambda: len(receiver.requests) == 1)
    assert receiver.requests[0].headers["host"] == f"hooks.test:{receiver.port}"
    assert receiver.requests[0].verified
