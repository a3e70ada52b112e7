"""Browser fixtures: headless Debian Chromium driven by Playwright, and the API + console + edge in threads."""

from __future__ import annotations

import shutil
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import (
    LiveServer,
    bearer,
    in_ci,
    make_settings,
    missing_part,
    new_api_key,
    wait_until,
)

REPO = Path(__file__).resolve().parents[3]
CHROMIUM = Path("/usr/bin/chromium")
HLS_JS = REPO / "src/streamstack/web/static/vendor/hls.min.js"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run", "--autoplay-policy=no-user-gesture-required"]
ARTIFACTS = REPO / "test-artifacts"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Skip (with the reason) rather than fail when the machine has no Chromium; under CI the tests fail."""
    if CHROMIUM.exists() or in_ci():
        return
    skip = pytest.mark.skip(reason=f"{CHROMIUM} is missing: apt-get install chromium (scripts/install-system-deps)")
    for item in items:
        if "e2e/browser" in str(item.fspath):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def hls_js() -> Path:
    """The console's player needs the vendored hls.js: fetched from npm here if `make install` has not."""
    if not HLS_JS.exists():
        if shutil.which("npm") is None:
            missing_part("hls.js is not vendored and npm is missing: apt-get install npm, then scripts/fetch-hls-js")
        subprocess.run(["bash", str(REPO / "scripts/fetch-hls-js")], check=True, timeout=300)
    return HLS_JS


@pytest.fixture(scope="package")
def browser(hls_js: Path) -> Iterator[Any]:
    """Package scope: Playwright's sync API keeps an event loop running in the main thread until it stops,
    which would break every later test that runs its own loop."""
    from playwright.sync_api import sync_playwright

    if not CHROMIUM.exists():
        missing_part(f"{CHROMIUM} is missing: apt-get install chromium (scripts/install-system-deps)")
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield launched
        launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    """A fresh tab at a desktop size that records console errors and uncaught exceptions for assertions."""
    context = browser.new_context(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
    tab = context.new_page()
    tab.errors = []  # type: ignore[attr-defined]
    tab.on("pageerror", lambda exc: tab.errors.append(f"pageerror: {exc}"))
    tab.on("console", lambda msg: msg.type == "error" and tab.errors.append(f"console: {msg.text}"))
    yield tab
    context.close()


@dataclass
class Stack:
    """The platform's processes as threads: API with the console, the edge, optionally the worker loop."""

    platform: Any
    api: LiveServer
    edge: LiveServer
    key: str
    workers: list[Any] = field(default_factory=list)

    def client(self) -> httpx.Client:
        return httpx.Client(base_url=self.api.url, headers=bearer(self.key), timeout=30)

    def samples(self) -> list[Any]:
        """The metrics samples the console's Health page charts, as taken so far."""
        sampler = self.api.server.config.app.state.metrics_sampler
        with sampler.lock:
            return list(sampler.samples)

    def start_worker(self) -> None:
        from streamstack.events.worker import Worker

        worker = Worker(self.platform, poll_seconds=0.2)
        thread = threading.Thread(target=worker.run, name="worker", daemon=True)
        thread.start()
        self.workers.append((worker, thread))

    def stop_workers(self) -> None:
        for worker, thread in self.workers:
            worker.stopping.set()
            thread.join(timeout=60)


def console_app(platform: Any) -> Any:
    """The API app exactly as `streamstack up` serves it (console included), sampling metrics every second."""
    from streamstack.api import create_app

    app = create_app(platform)
    app.state.metrics_sampler.interval = 1.0
    return app


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    with running_stack(tmp_path / "data") as running:
        yield running


@contextmanager
def running_stack(data_dir: Path, **overrides: object) -> Iterator[Stack]:
    """API (with the console) and edge on loopback over one platform built with these settings."""
    from streamstack.delivery.app import create_edge_app
    from streamstack.platform import build_platform

    settings = {"segment_seconds": 2.0, "keyframe_seconds": 1.0, **overrides}
    platform = build_platform(make_settings(data_dir, **settings))
    key = new_api_key(platform, name="browser-test")
    api = LiveServer(console_app(platform), platform.settings.api_port)
    edge = LiveServer(create_edge_app(platform), platform.settings.edge_port)
    with api, edge:
        running = Stack(platform, api, edge, key)
        try:
            yield running
        finally:
            running.stop_workers()
    platform.close()


@pytest.fixture(scope="session")
def clip(clip_factory: Callable[..., Path]) -> Path:
    """8 s of 640x360 test pattern with a tone: small, yet enough for a two-rendition ladder."""
    return clip_factory(size="640x360", seconds=8)


def sign_in(page: Any, stack: Stack) -> None:
    page.goto(stack.api.url + "/")
    page.fill("#api-key", stack.key)
    page.click("#signin-submit")
    page.wait_for_selector("#shell:not([hidden])")


def screenshot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    return path



def upload_via_api(stack: Stack, path: Path, *, policy: str = "public") -> str:
    """A direct upload as any integrator does it (POST /v1/uploads, then tus); returns the asset id."""
    with stack.client() as client:
        created = client.post("/v1/uploads", json={"new_asset_settings": {"playback_policy": [policy],
                                                                           "passthrough": path.name}})
        created.raise_for_status()
        upload = created.json()
        tus = {"Tus-Resumable": "1.0.0"}
        client.post(upload["url"], headers={**tus, "Upload-Length": str(path.stat().st_size)}).raise_for_status()
        client.patch(upload["url"], content=path.read_bytes(), headers={
            **tus, "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream"}).raise_for_status()
    return upload["asset_id"]


def create_stream(stack: Stack, **body: object) -> dict[str, Any]:
    """A live stream made through the API, as an integrator's backend would."""
    with stack.client() as client:
        response = client.post("/v1/live-streams", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def get_stream(stack: Stack, stream_id: str) -> dict[str, Any]:
    with stack.client() as client:
        return client.get(f"/v1/live-streams/{stream_id}").json()


def wait_ready(stack: Stack, asset_id: str, timeout: float = 240) -> dict[str, Any]:
    """Polls the API until the worker has encoded the asset; an errored asset fails at once with its reason."""
    with stack.client() as client:
        def ready() -> dict[str, Any] | None:
            asset = client.get(f"/v1/assets/{asset_id}").json()
            assert asset["status"] != "errored", asset["errors"]
            return asset if asset["status"] == "ready" else None

        return wait_until(ready, timeout, f"asset {asset_id} to be ready")
