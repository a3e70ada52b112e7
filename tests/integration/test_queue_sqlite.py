"""The SQLite queue: the shared Queue contract, plus what only the embedded adapter promises."""

from __future__ import annotations

import functools
import multiprocessing
import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from streamstack.queue import sqlite as sqlite_queue
from streamstack.queue.base import QueueUnavailable
from streamstack.queue.factory import open_queue
from streamstack.queue.sqlite import SqliteQueue
from streamstack.settings import Settings
from tests.conftest import wait_until
from tests.contract.queue_contract import (
    LONG,
    MAX_RECEIVE_COUNT,
    VISIBILITY_TIMEOUT,
    QueueContract,
    QueueFactory,
    counts,
)


class TestSqliteQueueContract(QueueContract):
    @pytest.fixture
    def queue_factory(self, tmp_path: Path) -> QueueFactory:
        return functools.partial(
            SqliteQueue,
            tmp_path / "queue.db",
            "contract",
            visibility_timeout=VISIBILITY_TIMEOUT,
            max_receive_count=MAX_RECEIVE_COUNT,
        )


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "queue.db"


@pytest.fixture
def queue(db_path: Path) -> Iterator[SqliteQueue]:
    queue = SqliteQueue(db_path, "encode", visibility_timeout=VISIBILITY_TIMEOUT, max_receive_count=2)
    yield queue
    queue.close()


def test_receive_takes_a_full_batch_of_ten_when_available(queue: SqliteQueue) -> None:
    for i in range(25):
        queue.send(str(i))
    assert len(queue.receive(max_messages=10, visibility_timeout=LONG)) == 10
    assert counts(queue.stats()) == (15, 10, 0)


def test_message_ids_are_uuids_like_sqs(queue: SqliteQueue) -> None:
    message_id = queue.send("x")
    assert str(uuid.UUID(message_id)) == message_id and uuid.UUID(message_id).version == 4


def test_oldest_message_first(queue: SqliteQueue) -> None:
    for i in range(5):
        queue.send(str(i))
    assert [m.body for m in queue.receive(max_messages=5, visibility_timeout=LONG)] == ["0", "1", "2", "3", "4"]


def test_dlq_keeps_the_message_and_can_be_consumed(db_path: Path, queue: SqliteQueue) -> None:
    message_id = queue.send("poison", attributes={"kind": "s3"})
    for _ in range(2):
        (message,) = queue.receive(visibility_timeout=LONG)
        queue.change_visibility(message.receipt_handle, 0)
    assert queue.receive() == []
    dlq = SqliteQueue(db_path, "encode-dlq", max_receive_count=None)
    try:
        (dead,) = dlq.receive(visibility_timeout=LONG)
        assert (dead.message_id, dead.body, dead.message_attributes) == (message_id, "poison", {"kind": "s3"})
        assert dead.receive_count == 3
        dlq.delete(dead.receipt_handle)
        assert counts(queue.dlq_stats()) == (0, 0, 0)
        assert counts(dlq.dlq_stats()) == (0, 0, 0)
    finally:
        dlq.close()


def test_named_queues_in_one_file_are_independent(db_path: Path, queue: SqliteQueue) -> None:
    events = SqliteQueue(db_path, "events")
    try:
        queue.send("encode me")
        assert events.receive() == []
        assert counts(events.stats()) == (0, 0, 0)
        events.send("event")
        assert [m.body for m in queue.receive(visibility_timeout=LONG)] == ["encode me"]
        events.purge()
        assert counts(queue.stats()) == (0, 1, 0)
    finally:
        events.close()


def test_queue_names_are_case_sensitive_as_in_sqs(db_path: Path, queue: SqliteQueue) -> None:
    shouting = SqliteQueue(db_path, "ENCODE")
    try:
        shouting.send("loud")
        assert queue.receive() == []
        assert [m.body for m in shouting.receive()] == ["loud"]
    finally:
        shouting.close()


def test_messages_survive_reopening_the_file(db_path: Path, queue: SqliteQueue) -> None:
    queue.send("durable", delay_seconds=0)
    queue.close()
    reopened = SqliteQueue(db_path, "encode")
    try:
        assert [m.body for m in reopened.receive()] == ["durable"]
    finally:
        reopened.close()


def send_from_child(queue: SqliteQueue) -> None:
    queue.send("from a forked child")


def test_forked_child_opens_its_own_connection(queue: SqliteQueue) -> None:
    queue.send("before fork")
    child = multiprocessing.get_context("fork").Process(target=send_from_child, args=(queue,))
    child.start()
    child.join(30)
    assert child.exitcode == 0
    got = queue.receive(max_messages=10, wait_seconds=5, visibility_timeout=LONG)
    got += queue.receive(max_messages=10, wait_seconds=1, visibility_timeout=LONG)
    assert sorted(m.body for m in got) == ["before fork", "from a forked child"]


def test_oldest_age_follows_the_clock(queue: SqliteQueue) -> None:
    queue.send("old")
    time.sleep(0.3)
    queue.send("new")
    assert queue.stats().oldest_age_seconds >= 0.25
    assert queue.dlq_stats().oldest_age_seconds == 0.0


@pytest.mark.parametrize(
    ("call", "kwargs"),
    [
        ("send", {"body": "x", "delay_seconds": 901}),
        ("send", {"body": "x", "attributes": {str(i): "v" for i in range(11)}}),
        ("receive", {"wait_seconds": 21}),
        ("receive", {"visibility_timeout": -1}),
    ],
)
def test_out_of_range_arguments_are_refused_as_sqs_would(queue: SqliteQueue, call: str, kwargs: dict) -> None:
    with pytest.raises(ValueError):
        getattr(queue, call)(**kwargs)


@pytest.mark.parametrize("name", ["", "has space", 'quote"', "x" * 81])
def test_queue_names_follow_sqs_rules(db_path: Path, name: str) -> None:
    with pytest.raises(ValueError):
        SqliteQueue(db_path, name)


def test_malformed_receipt_handle_is_refused(queue: SqliteQueue) -> None:
    with pytest.raises(ValueError):
        queue.delete("not-a-handle")


def test_long_poll_wakes_on_a_send_from_another_process(db_path: Path, queue: SqliteQueue) -> None:
    """Another process's commit is seen through data_version, not only this process's notifications."""
    script = "import sys, time; from streamstack.queue.sqlite import SqliteQueue as Q; "
    script += "q = Q(sys.argv[1], 'encode'); time.sleep(1); q.send('from afar')"
    sender = subprocess.Popen([sys.executable, "-c", script, str(db_path)])
    started = time.monotonic()
    try:
        got = queue.receive(wait_seconds=20)
    finally:
        sender.wait(30)
    assert [m.body for m in got] == ["from afar"]
    assert time.monotonic() - started < 15  # woken by the commit, not by the end of the wait


class WriteLockHolder(threading.Thread):
    """Another connection (as another process would) holds the write lock for a while.

    `locked` is set once the lock is held, `releasing` just before it is let go: tests wait on these, not on time.
    """

    def __init__(self, db_path: Path, seconds: float) -> None:
        super().__init__(daemon=True)
        self.db_path, self.seconds = db_path, seconds
        self.locked, self.releasing = threading.Event(), threading.Event()

    def run(self) -> None:
        conn = sqlite3.connect(self.db_path, isolation_level=None)
        conn.execute("BEGIN IMMEDIATE")
        self.locked.set()
        time.sleep(self.seconds)
        self.releasing.set()
        conn.execute("COMMIT")
        conn.close()

    def __enter__(self) -> WriteLockHolder:
        self.start()
        assert self.locked.wait(30), "the other connection never got the write lock"
        return self

    def __exit__(self, *_exc: object) -> None:
        self.join()


def test_writes_wait_for_a_busy_database(db_path: Path, queue: SqliteQueue) -> None:
    with WriteLockHolder(db_path, 0.5) as holder:
        queue.send("waited")
        assert holder.releasing.is_set(), "the send returned while another connection held the write lock"
    assert [m.body for m in queue.receive()] == ["waited"]


def test_a_database_locked_too_long_is_unavailable(
    db_path: Path, queue: SqliteQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sqlite_queue, "BUSY_TIMEOUT_SECONDS", 0.3)
    with WriteLockHolder(db_path, 1.5), pytest.raises(QueueUnavailable):
        queue.send("refused")
    queue.send("accepted again")
    assert [m.body for m in queue.receive()] == ["accepted again"]


def test_idle_long_poll_sleeps_instead_of_spinning(queue: SqliteQueue) -> None:
    cpu = time.process_time()
    assert queue.receive(wait_seconds=2) == []
    assert time.process_time() - cpu < 0.5


def test_open_queue_follows_settings(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, queue_visibility_timeout=7, queue_max_receive_count=4)
    queue = open_queue(settings, "encode")
    dlq = open_queue(settings, "encode-dlq")
    try:
        assert isinstance(queue, SqliteQueue) and queue.path == settings.queue_path
        assert (queue.visibility_timeout, queue.max_receive_count) == (7, 4)
        assert dlq.max_receive_count is None
    finally:
        queue.close()
        dlq.close()
    sqs = open_queue(Settings(data_dir=tmp_path, queue_backend="sqs"), "encode")  # no network until used
    assert type(sqs).__name__ == "SqsQueue" and sqs.name == "encode"


PRODUCER = textwrap.dedent(
    """
    import sys
    from streamstack.queue.sqlite import SqliteQueue
    queue = SqliteQueue(sys.argv[1], "encode")
    with open(sys.argv[2], "a", buffering=1) as log:
        for i in range(10**9):
            queue.send(f"{sys.argv[3]}-{i}")
            log.write(f"{sys.argv[3]}-{i}\\n")  # only once send has returned
    """
)
CONSUMER = textwrap.dedent(
    """
    import sys
    from streamstack.queue.sqlite import SqliteQueue
    queue = SqliteQueue(sys.argv[1], "encode", visibility_timeout=1)
    with open(sys.argv[2], "a", buffering=1) as log:
        while True:
            batch = queue.receive(max_messages=10, wait_seconds=1)
            log.write("".join(f"{m.body}\\n" for m in batch))  # processed before acknowledged
            queue.delete_batch([m.receipt_handle for m in batch])
    """
)


def lines(log: Path) -> int:
    return len(log.read_text().splitlines()) if log.exists() else 0


def busy(sent_log: Path, sent_before: int, processed_log: Path, processed_before: int) -> bool:
    """The producer has sent and the consumers have processed something since the round began."""
    return lines(sent_log) >= sent_before + 50 and lines(processed_log) > processed_before


def drain_everything(queue: SqliteQueue, timeout: float) -> list[str]:
    """Receive and delete until nothing is visible or in flight (expired claims come back first)."""
    bodies: list[str] = []
    deadline = time.monotonic() + timeout
    while (queue.stats().visible or queue.stats().in_flight) and time.monotonic() < deadline:
        batch = queue.receive(max_messages=10, wait_seconds=1, visibility_timeout=LONG)
        bodies += [m.body for m in batch]
        queue.delete_batch([m.receipt_handle for m in batch])
    return bodies


def test_kill_9_of_busy_processes_loses_no_sent_message(db_path: Path, tmp_path: Path) -> None:
    """Kill a producer and two consumers at arbitrary points, three times: every send that returned survives."""
    sent_log, processed_log = tmp_path / "sent.log", tmp_path / "processed.log"
    SqliteQueue(db_path, "encode").close()
    for round_ in range(3):
        sent_before, processed_before = lines(sent_log), lines(processed_log)
        producer = subprocess.Popen([sys.executable, "-c", PRODUCER, str(db_path), str(sent_log), f"r{round_}"])
        consumers = [
            subprocess.Popen([sys.executable, "-c", CONSUMER, str(db_path), str(processed_log)]) for _ in range(2)
        ]
        wait_until(functools.partial(busy, sent_log, sent_before, processed_log, processed_before), 60,
                   f"round {round_}: the producer and the consumers to be busy")
        time.sleep(0.37 * round_)  # a different point of their work in each round
        for process in [producer, *consumers]:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(10)
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    queue = SqliteQueue(db_path, "encode")
    try:
        left = drain_everything(queue, timeout=30)
        assert counts(queue.stats()) == (0, 0, 0)
    finally:
        queue.close()
    sent = set(sent_log.read_text().split())
    processed = set(processed_log.read_text().split())
    assert len(sent) > 100, "the producer hardly ran"
    assert sent <= processed | set(left)
