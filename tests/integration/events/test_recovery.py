"""Recovery after a worker dies: heartbeats keep live jobs hidden, a dead worker's messages and temp dirs are
reclaimed by the next worker, and a retried encode keeps its progress and says it is retrying."""

from __future__ import annotations

import multiprocessing
import os
import signal
import tempfile
import time
from multiprocessing.connection import Connection
from pathlib import Path

import pytest

from streamstack.assets import service as assets
from streamstack.assets.models import Asset, NewAssetSettings
from streamstack.events.encoding import CatalogTracker
from streamstack.events.leases import lease, release_abandoned
from streamstack.events.worker import VisibilityHeartbeat
from streamstack.media.safety import job_directory, sweep_orphaned_job_dirs
from streamstack.queue.sqlite import SqliteQueue

LONG = 60


def hold_a_job_dir_and_a_lease(tmp: str, queue_path: Path, lease_dir: Path, report: Connection) -> None:
    """A worker stand-in: takes a message and a job dir, says so, and waits to be killed."""
    os.environ["TMPDIR"] = tmp
    tempfile.tempdir = None
    queue = SqliteQueue(queue_path, "encode")
    (message,) = queue.receive(wait_seconds=5, visibility_timeout=LONG)
    with lease(lease_dir, queue, [message]), job_directory() as workdir:
        (workdir / "source").write_bytes(b"x" * 1000)
        report.send(str(workdir))
        time.sleep(600)


@pytest.fixture
def private_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Temp dirs of this test only, so sweeping cannot see (or touch) other tests' jobs."""
    path = tmp_path / "tmp"
    path.mkdir()
    monkeypatch.setenv("TMPDIR", str(path))
    monkeypatch.setattr(tempfile, "tempdir", None)
    return path


def test_a_killed_workers_message_and_temp_dir_are_reclaimed_at_once_and_a_live_ones_are_not(
    tmp_path: Path, private_tmp: Path
) -> None:
    queue = SqliteQueue(tmp_path / "queue.db", "encode")
    message_id = queue.send("encode me")
    lease_dir = tmp_path / "leases"
    context = multiprocessing.get_context("spawn")
    reader, writer = context.Pipe(duplex=False)
    victim = context.Process(target=hold_a_job_dir_and_a_lease,
                             args=(str(private_tmp), tmp_path / "queue.db", lease_dir, writer))
    victim.start()
    try:
        assert reader.poll(60), "the worker stand-in never took its job"
        dead_dir = Path(reader.recv())
        queue.send("live job")
        (live,) = queue.receive(wait_seconds=5, visibility_timeout=LONG)
        with lease(lease_dir, queue, [live]), job_directory() as live_dir:
            assert release_abandoned(lease_dir, {"encode": queue}) == 0  # its owner is alive
            assert sweep_orphaned_job_dirs() == 0
            os.kill(victim.pid, signal.SIGKILL)
            victim.join(30)
            assert release_abandoned(lease_dir, {"encode": queue}) == 1
            assert sweep_orphaned_job_dirs() == 1
            assert not dead_dir.exists() and live_dir.exists()
            again = queue.receive(wait_seconds=5, visibility_timeout=LONG)
            assert [(m.message_id, m.receive_count) for m in again] == [(message_id, 2)]  # long before 60 s
            assert len(list(lease_dir.glob("*.lease"))) == 1  # the live lease is left alone
        assert list(lease_dir.iterdir()) == [] and not live_dir.exists()
    finally:
        if victim.is_alive():
            victim.kill()
        queue.close()


def test_the_heartbeat_keeps_a_long_job_hidden_past_a_short_visibility_timeout(tmp_path: Path) -> None:
    queue = SqliteQueue(tmp_path / "queue.db", "encode", visibility_timeout=1)
    queue.send("long job")
    (message,) = queue.receive(wait_seconds=5)
    with VisibilityHeartbeat(queue, [message], timeout=1):
        assert queue.receive(wait_seconds=3) == []  # three timeouts, never redelivered
    again = queue.receive(wait_seconds=5)  # no more heartbeats: back within a timeout
    assert [m.receive_count for m in again] == [2]
    queue.close()


def test_a_retried_encode_keeps_its_progress_and_says_it_is_retrying(platform) -> None:  # type: ignore[no-untyped-def]
    with platform.sessions() as db_session:
        asset = assets.create_asset(db_session=db_session, new_asset_settings=NewAssetSettings())
        db_session.commit()
        asset_id = asset.id
    assert CatalogTracker(platform, asset_id).started("1700000000000-first1")
    with platform.sessions() as db_session:
        db_session.get(Asset, asset_id).progress = 42.0  # type: ignore[union-attr]
        db_session.commit()
        shown = assets.asset_to_out(db_session.get(Asset, asset_id), "")  # type: ignore[arg-type]
    assert (shown.progress, shown.encode_attempts, shown.retrying) == (42.0, 1, False)

    assert CatalogTracker(platform, asset_id).started("1700000000999-again2")  # the worker died; redelivered
    with platform.sessions() as db_session:
        shown = assets.asset_to_out(db_session.get(Asset, asset_id), "")  # type: ignore[arg-type]
    assert (shown.status, shown.progress, shown.encode_attempts, shown.retrying) == ("preparing", 42.0, 2, True)
