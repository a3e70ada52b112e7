"""Same Idempotency-Key, requests at the same moment: the key is claimed first, so exactly one resource exists."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from streamstack.assets import service as assets_service
from streamstack.assets.models import Asset
from streamstack.platform import Platform
from streamstack.settings import Settings
from streamstack.webhooks import service as webhooks_service
from streamstack.webhooks.models import WebhookEndpoint
from tests.conftest import LiveServer, bearer

CALLERS = 8
HOOK = {"url": "http://127.0.0.1:9/hook", "event_types": ["video.asset.ready"]}
WORK_SECONDS = 0.3  # the first caller is still working when the others arrive


@pytest.fixture
def settings(catalog_settings: Settings) -> Settings:
    return catalog_settings


@pytest.fixture
def api(platform: Platform) -> Iterator[LiveServer]:
    from streamstack.api import create_app

    with LiveServer(create_app(platform), platform.settings.api_port) as server:
        yield server


def slowed(function: Callable[..., Any]) -> Callable[..., Any]:
    """The real create, after a pause: widens the window in which concurrent callers overlap."""
    def slow(*args: Any, **kwargs: Any) -> Any:
        time.sleep(WORK_SECONDS)
        return function(*args, **kwargs)
    return slow


def post_all_at_once(url: str, body: dict[str, Any], headers: dict[str, str]) -> list[httpx.Response]:
    barrier = threading.Barrier(CALLERS)
    responses: list[httpx.Response] = []

    def call() -> None:
        with httpx.Client(timeout=30) as client:
            barrier.wait()
            responses.append(client.post(url, json=body, headers=headers))

    threads = [threading.Thread(target=call) for _ in range(CALLERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def count(platform: Platform, model: type) -> int:
    with platform.sessions() as db_session:
        return db_session.scalar(select(func.count()).select_from(model)) or 0


def assert_one_winner(responses: list[httpx.Response]) -> dict[str, Any]:
    """Every caller gets the one created resource or a 409 to retry; never a second resource, never a 5xx."""
    assert len(responses) == CALLERS
    created = [r for r in responses if r.status_code == 201]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(created) + len(in_progress) == CALLERS, [(r.status_code, r.text) for r in responses]
    assert created and len({r.text for r in created}) == 1
    for response in in_progress:
        assert response.headers["content-type"] == "application/problem+json"
        assert response.headers["retry-after"] == "1"
        assert "in progress" in response.json()["detail"]
    return created[0].json()


@pytest.mark.parametrize("resource", ["webhook", "asset"])
def test_concurrent_creates_with_one_key_create_exactly_one_resource(api, platform, admin_key, monkeypatch,
                                                                     resource):
    if resource == "webhook":
        monkeypatch.setattr(webhooks_service, "create_endpoint", slowed(webhooks_service.create_endpoint))
        path, body, model = "/v1/webhooks", HOOK, WebhookEndpoint
    else:
        monkeypatch.setattr(assets_service, "create_asset", slowed(assets_service.create_asset))
        path, body, model = "/v1/assets", {"input": "http://127.0.0.1:9/clip.mp4"}, Asset
    headers = {**bearer(admin_key), "Idempotency-Key": f"same-{resource}"}

    winner = assert_one_winner(post_all_at_once(api.url + path, body, headers))

    assert count(platform, model) == 1
    retry = httpx.post(api.url + path, json=body, headers=headers)
    assert retry.status_code == 201 and retry.json() == winner
    assert retry.headers["idempotent-replayed"] == "true"
    assert count(platform, model) == 1


def test_a_failed_create_releases_its_key_for_the_retry(api, platform, admin_key, monkeypatch):
    real = webhooks_service.create_endpoint
    monkeypatch.setattr(webhooks_service, "create_endpoint",
                        lambda **kwargs: (_ for _ in ()).throw(webhooks_service.InvalidWebhook("refused once")))
    headers = {**bearer(admin_key), "Idempotency-Key": "retry-me"}
    body = HOOK
    assert httpx.post(f"{api.url}/v1/webhooks", json=body, headers=headers).status_code == 422
    monkeypatch.setattr(webhooks_service, "create_endpoint", real)
    assert httpx.post(f"{api.url}/v1/webhooks", json=body, headers=headers).status_code == 201
    assert count(platform, WebhookEndpoint) == 1
