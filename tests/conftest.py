"""Shared fixtures: settings in a temp data dir, the platform, a live API server, PostgreSQL when present."""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from streamstack.settings import Settings

TESTS = Path(__file__).resolve().parent
E2E = TESTS / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Markers by what a test needs: everything under tests/e2e is `e2e`, every PostgreSQL case is `postgres`.

    (A `pytestmark` in a conftest marks nothing, so markers are applied here, where `-m` sees them.)
    """
    for item in items:
        if item.path.is_relative_to(E2E):
            item.add_marker(pytest.mark.e2e)
        if needs_postgres(item):
            item.add_marker(pytest.mark.postgres)


def needs_postgres(item: pytest.Item) -> bool:
    """A test asks for the server directly, or is the "postgresql" case of a catalog parametrization."""
    callspec = getattr(item, "callspec", None)
    params = callspec.params.values() if callspec is not None else ()
    return "postgres_url" in getattr(item, "fixturenames", ()) or "postgresql" in params


def make_clip(path: Path, *, size: str = "320x180", rate: int = 25, seconds: float = 2, audio: bool = True,
              extra: tuple[str, ...] = ()) -> Path:
    """A short H.264 (+ AAC tone) clip from ffmpeg's lavfi sources: real media, small enough to stay fast."""
    from tests.corpus.generate import lavfi_clip

    lavfi_clip(path, size=size, seconds=seconds, rate=rate, audio=audio, extra=("-pix_fmt", "yuv420p", *extra))
    return path


@pytest.fixture(scope="session")
def clip_factory(tmp_path_factory: pytest.TempPathFactory) -> Callable[..., Path]:
    """make_clip once per test session and set of parameters: the suite's one source of test media."""
    made: dict[tuple[Any, ...], Path] = {}
    folder = tmp_path_factory.mktemp("clips")

    def make(**params: Any) -> Path:
        key = tuple(sorted(params.items()))
        if key not in made:
            (folder / str(len(made))).mkdir()
            made[key] = make_clip(folder / str(len(made)) / "clip.mp4", **params)  # every clip is clip.mp4
        return made[key]

    return make


@pytest.fixture(scope="session")
def clip(clip_factory: Callable[..., Path]) -> Path:
    """2 s of 320x180 with a tone, shared by every test that only needs some real video."""
    return clip_factory()


def wait_until(predicate, timeout: float, what: str, *, poll: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll until predicate() is truthy (and return it), or fail saying what never happened."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")


POSTGRES_URL = os.environ.get("STREAMSTACK_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


def free_port() -> int:
    """A port that was free a moment ago: only for a server in another process, which must retry if it lost it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


_reserved: dict[int, socket.socket] = {}


def reserve_port() -> int:
    """A loopback port bound now and held until a server of this process takes it: no other test can get it.

    SO_REUSEPORT lets an in-process listener that sets it too (the edge's admin listener) bind it meanwhile.
    """
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    _reserved[port] = sock
    return port


def claim_port(port: int) -> socket.socket:
    """The socket reserved for `port` (a port reserved elsewhere is bound now, and fails loudly if taken)."""
    sock = _reserved.pop(port, None)
    if sock is None:
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(("127.0.0.1", port))
    return sock


def release_port(port: int) -> int:
    """Let a reservation go, for a server in another process that binds the port itself."""
    sock = _reserved.pop(port, None)
    if sock is not None:
        sock.close()
    return port


@pytest.fixture(autouse=True)
def _release_unclaimed_ports() -> Iterator[None]:
    """Ports a test reserved and no server took are given back when it ends."""
    yield
    for port in list(_reserved):
        release_port(port)


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": data_dir, "api_port": reserve_port(), "edge_port": reserve_port(),
        "edge_admin_port": reserve_port(), "queue_visibility_timeout": 30.0, "outbound_allow_cidrs": ["127.0.0.0/8"],
    }
    values.update(overrides)
    return Settings(**values)  # type: ignore[arg-type]


@pytest.fixture
def fresh_metrics(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """This process's metrics from zero (one registry, no multiprocess directory), as the API's again afterwards.

    Yields the metrics module; a test that records as another service calls its configure_metrics first.
    """
    from streamstack.observability import exposition, metrics

    monkeypatch.delenv(exposition.MULTIPROC_ENV, raising=False)
    metrics.reset_instruments()
    metrics.configure_metrics(service="api", enabled=True)
    yield metrics
    metrics.reset_instruments()
    metrics.configure_metrics(service="api", enabled=True)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    """The local-folder object store (the real adapter), rooted in tmp_path, for media tests."""
    from streamstack.storage.local import LocalObjectStore

    return LocalObjectStore(tmp_path / "objects", bucket="test-media")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return make_settings(tmp_path / "data")


@pytest.fixture
def platform(settings: Settings):  # type: ignore[no-untyped-def]
    from streamstack.platform import build_platform

    built = build_platform(settings)
    yield built
    built.close()


def new_api_key(platform: Any, *scopes: str, name: str = "test") -> str:
    """A new API key's secret, admin unless scopes are given: the one way tests get a key."""
    from streamstack.keys.service import create_api_key

    with platform.sessions() as db_session:
        return create_api_key(db_session=db_session, name=name, scopes=list(scopes or ["admin"])).secret


def bearer(key: str) -> dict[str, str]:
    """The Authorization header a client sends with an API key."""
    return {"Authorization": f"Bearer {key}"}


@pytest.fixture
def admin_key(platform) -> str:  # type: ignore[no-untyped-def]
    return new_api_key(platform, name="test-admin")


class LiveServer:
    """uvicorn in a thread on a port reserved for it, for clients that need real HTTP (tuspy, browsers)."""

    def __init__(self, app, port: int):  # type: ignore[no-untyped-def]
        import uvicorn

        self.url = f"http://127.0.0.1:{port}"
        self.socket = claim_port(port)
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.socket]}, daemon=True)

    def __enter__(self) -> LiveServer:
        self.thread.start()
        wait_until(lambda: self.server.started or not self.thread.is_alive(), 30, f"the server at {self.url}",
                   poll=0.02)
        if not self.server.started:
            raise RuntimeError(f"the server at {self.url} did not start (see the log above)")
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
        self.socket.close()


@pytest.fixture
def live_api(platform) -> Iterator[LiveServer]:  # type: ignore[no-untyped-def]
    from streamstack.api import create_app

    with LiveServer(create_app(platform), platform.settings.api_port) as server:
        yield server


def in_ci() -> bool:
    """CI sets CI=true: there a missing real part that the machine provides is a failure, not a skip."""
    return os.environ.get("CI", "").lower() in {"true", "1"}


def missing_part(reason: str) -> None:
    """A real part this machine kind provides is absent: skip with the reason here, fail with it under CI."""
    if in_ci():
        pytest.fail(f"{reason} (CI=true: `make test` must provide it)", pytrace=False)
    pytest.skip(reason)


def postgres_required() -> bool:
    """Under CI, or when a server was named explicitly, an unreachable PostgreSQL fails the tests that need it."""
    return in_ci() or "STREAMSTACK_TEST_POSTGRES_URL" in os.environ


def postgres_unreachable() -> str | None:
    """None when the server answers, else why not (with the driver's own message)."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL, connect_timeout=3):
            return None
    except Exception as exc:  # noqa: BLE001 - every failure is reported with its message
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}: {exc}".strip()


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """A fresh database per test session on the local server; dropped afterwards."""
    reason = postgres_unreachable()
    if reason and postgres_required():
        pytest.fail(f"{reason} (required: CI=true or STREAMSTACK_TEST_POSTGRES_URL is set)", pytrace=False)
    if reason:
        pytest.skip(f"{reason}; set STREAMSTACK_TEST_POSTGRES_URL or CI=true to make this a failure")
    import psycopg

    name = f"streamstack_test_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = POSTGRES_URL.rpartition("/")
    yield f"{base}/{name}"
    with psycopg.connect(POSTGRES_URL, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["sqlite", "postgresql"])
def catalog_settings(request, tmp_path: Path) -> Settings:  # type: ignore[no-untyped-def]
    """Settings whose catalog is SQLite or PostgreSQL: catalog tests run on both."""
    if request.param == "sqlite":
        return make_settings(tmp_path / "data")
    url = request.getfixturevalue("postgres_url")
    reset_postgres(url)
    return make_settings(tmp_path / "data", database_url=url)


def reset_postgres(url: str) -> None:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DROP SCHEMA public CASCADE")
        conn.execute("CREATE SCHEMA public")
