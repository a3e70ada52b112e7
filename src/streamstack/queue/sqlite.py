"""Durable queue with SQS semantics in one SQLite file, shared by every process of the embedded shape.

One file holds many named queues (rows carry their queue's name); the dead-letter queue of `name`
is the queue `name-dlq` in the same file, so a redrive is a single UPDATE. Writers use WAL,
BEGIN IMMEDIATE and a busy timeout; a receive claims rows with one UPDATE ... RETURNING, so two
consumers never hold the same message in the same visibility window. Commits use
synchronous=NORMAL: a killed process (kill -9) loses nothing, a power cut may lose the last commits.
"""

from __future__ import annotations

import contextlib
import json
import os
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from streamstack.queue.base import Message, QueueStats, QueueUnavailable

T = TypeVar("T")

MAX_BATCH = 10
MAX_WAIT_SECONDS = 20.0
MAX_DELAY_SECONDS = 900
MAX_VISIBILITY_SECONDS = 43200.0
MAX_ATTRIBUTES = 10
BUSY_TIMEOUT_SECONDS = 10.0
POLL_SECONDS = 0.01
NO_REDRIVE = 2**62

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_messages (
    id INTEGER PRIMARY KEY,
    queue TEXT NOT NULL,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT,
    sent_ms INTEGER NOT NULL,
    visible_ms INTEGER NOT NULL,
    receive_count INTEGER NOT NULL DEFAULT 0,
    receipt TEXT
);
CREATE INDEX IF NOT EXISTS queue_messages_ready ON queue_messages (queue, visible_ms);
"""

_INSERT = (
    "INSERT INTO queue_messages (queue, message_id, body, attributes, sent_ms, visible_ms)"
    " VALUES (?, ?, ?, ?, ?, ?)"
)
_CANDIDATES = (
    "SELECT id FROM queue_messages WHERE queue = :queue AND visible_ms <= :now AND receive_count < :max"
    " ORDER BY visible_ms LIMIT :n"
)
_REDRIVE = (
    "UPDATE queue_messages SET queue = :dlq, visible_ms = :now, receipt = NULL WHERE id IN ("
    "SELECT id FROM queue_messages WHERE queue = :queue AND visible_ms <= :now ORDER BY visible_ms LIMIT :n"
    ") AND receive_count >= :max"
)
_CLAIM = (
    "UPDATE queue_messages SET receive_count = receive_count + 1, visible_ms = :now + :vis,"
    f" receipt = lower(hex(randomblob(8))) WHERE id IN ({_CANDIDATES})"
    " RETURNING id, message_id, body, attributes, sent_ms, receive_count, receipt"
)
_DELETE = "DELETE FROM queue_messages WHERE id = ? AND receipt = ? AND queue = ?"
_CHANGE_VISIBILITY = "UPDATE queue_messages SET visible_ms = ? WHERE id = ? AND receipt = ? AND queue = ?"
_NEXT_VISIBLE = "SELECT visible_ms FROM queue_messages WHERE queue = ? ORDER BY visible_ms LIMIT 1"
_STATS = (
    "SELECT coalesce(sum(visible_ms <= :now), 0), coalesce(sum(visible_ms > :now AND receive_count > 0), 0),"
    " coalesce(sum(visible_ms > :now AND receive_count = 0), 0), min(sent_ms)"
    " FROM queue_messages WHERE queue = :queue"
)


def _now_ms() -> int:
    """Wall-clock milliseconds: the one clock every process sharing the file agrees on."""
    return time.time_ns() // 1_000_000


class _Database:
    """One connection per process and file; SQLite serialises processes, the lock serialises threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.users = 0
        self.lock = threading.Lock()
        self.changed = threading.Condition()
        self.local_commits = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE so it never fails half-way on a lock upgrade."""
        with self.lock:
            self.conn.execute("BEGIN IMMEDIATE")
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.local_commits += 1
        with self.changed:
            self.changed.notify_all()

    def execute_write(self, sql: str, params: Sequence[Any]) -> None:
        """One write statement in its own autocommit transaction: one round trip instead of three."""
        with self.lock:
            self.conn.execute(sql, params)
            self.local_commits += 1
        with self.changed:
            self.changed.notify_all()

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """Autocommit reads; WAL lets them run beside a writer."""
        with self.lock:
            yield self.conn

    def version(self) -> tuple[int, int]:
        """Changes when any connection commits: data_version for other processes, a counter for this one."""
        with self.lock:
            return self.conn.execute("PRAGMA data_version").fetchone()[0], self.local_commits

    def wait_for_change(self, version: tuple[int, int], until: float) -> None:
        """Sleep until `until` (monotonic) or a commit, whichever comes first, checking every few ms."""
        while (remaining := until - time.monotonic()) > 0:
            with self.changed:
                self.changed.wait(min(remaining, POLL_SECONDS))
            if self.version() != version:
                return


_databases: dict[tuple[int, str], _Database] = {}
_databases_lock = threading.Lock()


def _open_database(path: Path) -> _Database:
    """Share one connection per (process, file); a forked child opens its own."""
    key = (os.getpid(), str(path.resolve()))
    with _databases_lock:
        database = _databases.get(key)
        if database is None:
            database = _databases[key] = _Database(path)
        database.users += 1
        return database


def _release_database(database: _Database) -> None:
    """Close the shared connection when its last queue closes."""
    with _databases_lock:
        database.users -= 1
        if database.users == 0:
            _databases.pop((os.getpid(), str(database.path.resolve())), None)
            database.conn.close()


def _parse_handle(receipt_handle: str) -> tuple[int, str]:
    """A receipt handle is `<row id>:<token>`; the token changes at every receive, as in SQS."""
    row_id, sep, token = receipt_handle.partition(":")
    if not sep or not row_id.isdigit() or not token:
        raise ValueError(f"malformed receipt handle: {receipt_handle!r}")
    return int(row_id), token


def _check_range(name: str, value: float, low: float, high: float) -> None:
    """Refuse what SQS refuses, so a call that works locally also works against AWS."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


class SqliteQueue:
    """A named queue (with its `<name>-dlq`) in a SQLite file; several processes may share the file."""

    def __init__(
        self,
        path: Path | str,
        name: str,
        *,
        visibility_timeout: float = 30.0,
        max_receive_count: int | None = 5,
    ) -> None:
        _check_range("visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY_SECONDS)
        if max_receive_count is not None and max_receive_count < 1:
            raise ValueError("max_receive_count must be at least 1")
        self.name = name
        self.dlq_name = f"{name}-dlq"
        self.path = Path(path)
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self._db: _Database | None = self._guard(lambda: _open_database(self.path))

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r}, {self.name!r})"

    def _database(self) -> _Database:
        if self._db is None:
            raise QueueUnavailable(f"queue {self.name!r} is closed")
        return self._db

    @staticmethod
    def _guard(operation: Callable[[], T]) -> T:
        """Turn SQLite failures (locked past the busy timeout, disk errors) into QueueUnavailable (503)."""
        try:
            return operation()
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"sqlite queue failed: {exc}") from exc

    def send(self, body: str, *, delay_seconds: int = 0, attributes: dict[str, str] | None = None) -> str:
        """Enqueue one message in its own commit, so it is durable when send returns."""
        _check_range("delay_seconds", delay_seconds, 0, MAX_DELAY_SECONDS)
        if attributes and len(attributes) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} message attributes")
        message_id = str(uuid.uuid4())
        now = _now_ms()
        encoded = json.dumps(attributes) if attributes else None
        row = (self.name, message_id, body, encoded, now, now + int(delay_seconds * 1000))
        database = self._database()
        self._guard(lambda: database.execute_write(_INSERT, row))
        return message_id

    def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0.0, visibility_timeout: float | None = None
    ) -> list[Message]:
        """Claim up to max_messages, long-polling: sleep until a commit or a message's visibility time."""
        _check_range("max_messages", max_messages, 1, MAX_BATCH)
        _check_range("wait_seconds", wait_seconds, 0, MAX_WAIT_SECONDS)
        timeout = self.visibility_timeout if visibility_timeout is None else visibility_timeout
        _check_range("visibility_timeout", timeout, 0, MAX_VISIBILITY_SECONDS)
        deadline = time.monotonic() + wait_seconds
        database = self._database()
        while True:
            version = self._guard(database.version)
            messages = self._guard(lambda: self._claim(max_messages, int(timeout * 1000)))
            if messages or time.monotonic() >= deadline:
                return messages
            until = deadline
            next_visible = self._guard(self._next_visible_ms)
            if next_visible is not None:
                until = min(until, time.monotonic() + max(0, next_visible - _now_ms()) / 1000)
            database.wait_for_change(version, until)

    def _claim(self, max_messages: int, visibility_ms: int) -> list[Message]:
        """Redrive exhausted candidates to the DLQ, then claim the rest, in one write transaction."""
        now = _now_ms()
        params = {"queue": self.name, "now": now, "n": max_messages, "vis": visibility_ms}
        with self._database().write() as conn:
            if self.max_receive_count is not None:
                conn.execute(_REDRIVE, {**params, "dlq": self.dlq_name, "max": self.max_receive_count})
            rows = conn.execute(_CLAIM, {**params, "max": self.max_receive_count or NO_REDRIVE}).fetchall()
        return [self._message(row) for row in sorted(rows)]

    @staticmethod
    def _message(row: tuple[Any, ...]) -> Message:
        row_id, message_id, body, attributes, sent_ms, receive_count, receipt = row
        return Message(
            message_id=message_id,
            receipt_handle=f"{row_id}:{receipt}",
            body=body,
            receive_count=receive_count,
            sent_timestamp_ms=sent_ms,
            message_attributes=json.loads(attributes) if attributes else {},
        )

    def _next_visible_ms(self) -> int | None:
        """When the earliest message of this queue becomes visible (None if it is empty)."""
        with self._database().read() as conn:
            row = conn.execute(_NEXT_VISIBLE, (self.name,)).fetchone()
        return row[0] if row else None

    def delete(self, receipt_handle: str) -> None:
        """Acknowledge; a stale handle (the message was received again since) deletes nothing."""
        self.delete_batch([receipt_handle])

    def delete_batch(self, receipt_handles: list[str]) -> None:
        """Acknowledge many messages in one commit."""
        rows = [(*_parse_handle(handle), self.name) for handle in receipt_handles]
        if not rows:
            return

        def delete() -> None:
            with self._database().write() as conn:
                conn.executemany(_DELETE, rows)

        self._guard(delete)

    def change_visibility(self, receipt_handle: str, timeout: float) -> None:
        """Hide the message for `timeout` seconds from now; 0 makes it visible at once."""
        _check_range("timeout", timeout, 0, MAX_VISIBILITY_SECONDS)
        row_id, token = _parse_handle(receipt_handle)
        database = self._database()
        params = (_now_ms() + int(timeout * 1000), row_id, token, self.name)
        self._guard(lambda: database.execute_write(_CHANGE_VISIBILITY, params))

    def stats(self) -> QueueStats:
        return self._guard(lambda: self._stats(self.name))

    def dlq_stats(self) -> QueueStats:
        return self._guard(lambda: self._stats(self.dlq_name))

    def _stats(self, queue: str) -> QueueStats:
        now = _now_ms()
        with self._database().read() as conn:
            visible, in_flight, delayed, oldest_ms = conn.execute(
                _STATS, {"queue": queue, "now": now}
            ).fetchone()
        age = max(0.0, (now - oldest_ms) / 1000) if oldest_ms is not None else 0.0
        return QueueStats(visible=visible, in_flight=in_flight, delayed=delayed, oldest_age_seconds=age)

    def purge(self) -> None:
        """Delete every message of this queue (not of its DLQ), as SQS PurgeQueue does."""
        database = self._database()
        self._guard(
            lambda: database.execute_write("DELETE FROM queue_messages WHERE queue = ?", (self.name,))
        )

    def close(self) -> None:
        """Release this queue's share of the process's connection."""
        if self._db is not None:
            _release_database(self._db)
            self._db = None
