"""Shared parts of the chaos and SIGTERM tests: platform processes on one data dir, and a catalog observer."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import select

from streamstack.assets.models import Asset
from streamstack.db.session import open_catalog
from streamstack.platform import Platform
from streamstack.settings import Settings
from tests.conftest import new_api_key, release_port


def process_env(settings: Settings, tmp_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a platform process over `settings` (its data dir, ports, ladder) with a private TMPDIR."""
    tmp_dir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STREAMSTACK_") and k != "PROMETHEUS_MULTIPROC_DIR"}
    values = {
        "DATA_DIR": str(settings.data_dir), "API_PORT": str(release_port(settings.api_port)),
        "EDGE_PORT": str(release_port(settings.edge_port)),
        "EDGE_ADMIN_PORT": str(release_port(settings.edge_admin_port)),
        "AUTO_MIGRATE": "false", "METRICS_ENABLED": "false",
        "OUTBOUND_ALLOW_CIDRS": json.dumps(settings.outbound_allow_cidrs),
        "QUEUE_VISIBILITY_TIMEOUT": str(settings.queue_visibility_timeout), "ENCODER": settings.encoder,
    }
    if settings.ladder:
        values["LADDER"] = json.dumps(settings.ladder)
    env.update({f"STREAMSTACK_{name}": value for name, value in values.items()})
    env.update(extra)
    env["TMPDIR"] = str(tmp_dir)
    return env


def start(command: str, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """`streamstack <command>`, its output appended to `log`."""
    with log.open("ab") as out:
        return subprocess.Popen([sys.executable, "-m", "streamstack", command], env=env, stdout=out,
                                stderr=subprocess.STDOUT)


def stop(process: subprocess.Popen[bytes], timeout: float = 40) -> int:
    """SIGTERM, then SIGKILL if it does not end in time; returns the exit code."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
    return process.wait()


@dataclass
class AssetTimeline:
    """When the observer first saw each (attempt count, status) of one asset."""

    attempts: dict[int, float] = field(default_factory=dict)
    ready_at: float | None = None


class CatalogObserver:
    """Polls the catalog from a thread and timestamps attempts and readiness, for recovery times."""

    def __init__(self, settings: Settings, interval: float = 0.05) -> None:
        self.engine, self.sessions = open_catalog(settings)
        self.interval = interval
        self.timelines: dict[str, AssetTimeline] = {}
        self.changed = threading.Condition()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            with self.sessions() as db_session:
                rows = db_session.execute(select(Asset.id, Asset.status, Asset.encode_attempts)).all()
            with self.changed:
                for asset_id, status, attempts in rows:
                    timeline = self.timelines.setdefault(asset_id, AssetTimeline())
                    timeline.attempts.setdefault(attempts or 0, now)
                    if status == "ready" and timeline.ready_at is None:
                        timeline.ready_at = now
                self.changed.notify_all()

    def encodes_started(self) -> int:
        """Assets whose first encode attempt has started."""
        with self.changed:
            return sum(max(t.attempts) >= 1 for t in self.timelines.values())

    def ready_count(self) -> int:
        with self.changed:
            return sum(t.ready_at is not None for t in self.timelines.values())

    def wait_for(self, predicate, timeout: float, what: str):  # type: ignore[no-untyped-def]
        """Block until predicate() holds after some observation (woken by each poll), or fail saying what."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while not (value := predicate()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
                self.changed.wait(remaining)
            return value

    @contextmanager
    def running(self) -> Iterator[CatalogObserver]:
        self._thread.start()
        try:
            yield self
        finally:
            self._stop.set()
            self._thread.join()
            self.engine.dispose()


LADDER = [{"name": "144p", "height": 144, "video_kbps": 200}, {"name": "90p", "height": 90, "video_kbps": 100}]


def small_platform_settings(data_dir: Path) -> Settings:
    """A migrated data dir, a two-rung tiny ladder and 1 s segments: real encodes that take about a second."""
    from streamstack.db.session import upgrade
    from tests.conftest import make_settings

    settings = make_settings(data_dir, ladder=LADDER, segment_seconds=1.0, keyframe_seconds=1.0)
    settings.data_dir.mkdir(parents=True)
    upgrade(settings.resolved_database_url)
    return settings


def uploaded_assets(platform: Platform, source: bytes, count: int) -> list[str]:
    """`count` assets whose source has landed: the store announces each on the encode queue, as S3 would."""
    from streamstack.assets import service as assets
    from streamstack.assets.models import NewAssetSettings
    from streamstack.storage.keys import source_key

    ids = []
    for _ in range(count):
        with platform.sessions() as db_session:
            asset = assets.create_asset(db_session=db_session, new_asset_settings=NewAssetSettings())
            db_session.commit()
            ids.append(asset.id)
        platform.store.put(source_key(asset.id), [source])
    return ids


def admin_key(platform: Platform) -> str:
    return new_api_key(platform, name="chaos")
