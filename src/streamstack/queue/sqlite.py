"""Durable queue with SQS semantics in one SQLite file, shared by every process of the embedded shape.

One file holds many named queues; the dead-letter queue of `name` is the queue `name-dlq` in the same
file, so a redrive is one UPDATE. A message sent without delay is appended to its queue's ready table
(the cheapest commit SQLite has, which is what bounds send); its first receive moves it into
`queue_scheduled`, where every message with a visibility time lives (delayed, in flight, returned,
dead-lettered), indexed by that time. Writers use WAL, BEGIN IMMEDIATE and a busy timeout; a receive
claims its batch inside one write transaction (UPDATE ... RETURNING, INSERT ... SELECT ... RETURNING),
so two consumers never hold the same message in the same visibility window. Commits use
synchronous=NORMAL: a killed process (kill -9) loses nothing; a power cut may lose the last commits.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

from streamstack.queue.base import (
    MAX_ATTRIBUTES,
    MAX_BATCH,
    MAX_DELAY_SECONDS,
    MAX_VISIBILITY_SECONDS,
    MAX_WAIT_SECONDS,
    Message,
    QueueStats,
    QueueUnavailable,
    check_range,
)

T = TypeVar("T")

BUSY_TIMEOUT_SECONDS = 10.0
BUSY_SPINS = 20
BUSY_PAUSE_SECONDS = 0.0001
BUSY_MAX_PAUSE_SECONDS = 0.0005
POLL_SECONDS = 0.01
MAX_POLL_SECONDS = 0.05
NO_REDRIVE = 2**62

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue_scheduled (
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
CREATE INDEX IF NOT EXISTS queue_scheduled_visible ON queue_scheduled (queue, visible_ms)
"""
_READY_SCHEMA = """
CREATE TABLE IF NOT EXISTS "{ready}" (
    id INTEGER PRIMARY KEY,
    message_id TEXT NOT NULL,
    body TEXT NOT NULL,
    attributes TEXT,
    sent_ms INTEGER NOT NULL
)
"""
_COLUMNS = "message_id, body, attributes, sent_ms"
_RETURNING = "RETURNING id, message_id, body, attributes, sent_ms, receive_count, receipt"
_TOKEN = "lower(hex(randomblob(8)))"
_SEND = 'INSERT INTO "{ready}" (message_id, body, attributes, sent_ms) VALUES (?, ?, ?, ?)'
_SEND_DELAYED = f"INSERT INTO queue_scheduled (queue, {_COLUMNS}, visible_ms) VALUES (?, ?, ?, ?, ?, ?)"
_REDRIVE = (
    "UPDATE queue_scheduled SET queue = :dlq, visible_ms = :now, receipt = NULL WHERE id IN ("
    "SELECT id FROM queue_scheduled WHERE queue = :queue AND visible_ms <= :now ORDER BY visible_ms LIMIT :n"
    ") AND receive_count >= :max"
)
_CLAIM_SCHEDULED = (
    "UPDATE queue_scheduled SET receive_count = receive_count + 1, visible_ms = :now + :vis,"
    f" receipt = {_TOKEN} WHERE id IN ("
    "SELECT id FROM queue_scheduled WHERE queue = :queue AND visible_ms <= :now AND receive_count < :max"
    f" ORDER BY visible_ms LIMIT :n) {_RETURNING}"
)
_CLAIM_READY = (
    f"INSERT INTO queue_scheduled (queue, {_COLUMNS}, visible_ms, receive_count, receipt)"
    f' SELECT :queue, {_COLUMNS}, :now + :vis, 1, {_TOKEN} FROM "{{ready}}" ORDER BY id LIMIT :n {_RETURNING}'
)
_FORGET_READY = 'DELETE FROM "{ready}" WHERE id IN (SELECT id FROM "{ready}" ORDER BY id LIMIT ?)'
_DELETE = "DELETE FROM queue_scheduled WHERE id = ? AND receipt = ? AND queue = ?"
_CHANGE_VISIBILITY = "UPDATE queue_scheduled SET visible_ms = ? WHERE id = ? AND receipt = ? AND queue = ?"
_NEXT_VISIBLE = (
    'SELECT CASE WHEN EXISTS (SELECT 1 FROM "{ready}") THEN 0 ELSE'
    " (SELECT visible_ms FROM queue_scheduled WHERE queue = ? ORDER BY visible_ms LIMIT 1) END"
)
_STATS = (
    "SELECT coalesce(sum(visible_ms <= :now), 0), coalesce(sum(visible_ms > :now AND receive_count > 0), 0),"
    " coalesce(sum(visible_ms > :now AND receive_count = 0), 0), min(sent_ms)"
    " FROM queue_scheduled WHERE queue = :queue"
)
_READY_STATS = 'SELECT count(*), min(sent_ms) FROM "{ready}"'
_PURGE_SCHEDULED = "DELETE FROM queue_scheduled WHERE queue = ?"
_PER_QUEUE_SQL = {
    "schema": _READY_SCHEMA,
    "send": _SEND,
    "claim_ready": _CLAIM_READY,
    "forget_ready": _FORGET_READY,
    "next_visible": _NEXT_VISIBLE,
    "ready_stats": _READY_STATS,
    "purge_ready": 'DELETE FROM "{ready}"',
}
_NAME = re.compile(r"[A-Za-z0-9_-]{1,80}")


def _now_ms() -> int:
    """Wall-clock milliseconds: the one clock every process sharing the file agrees on."""
    return time.time_ns() // 1_000_000


def _retry_busy(operation: Callable[[], T]) -> T:
    """Retry while another connection holds the write lock: BUSY_SPINS immediate retries (a write here holds
    the lock for tens of microseconds), then pauses of BUSY_PAUSE_SECONDS growing to BUSY_MAX_PAUSE_SECONDS,
    up to BUSY_TIMEOUT_SECONDS. SQLite's own handler sleeps 1, 2, 5, 10 ms...; on a loaded machine each
    sleep also gives up the CPU, and those sleeps, not the work, decided the throughput."""
    deadline = time.monotonic() + BUSY_TIMEOUT_SECONDS
    pause = BUSY_PAUSE_SECONDS
    attempts = 0
    while True:
        try:
            return operation()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                raise
        attempts += 1
        if attempts > BUSY_SPINS:
            time.sleep(pause)
            pause = min(pause * 1.5, BUSY_MAX_PAUSE_SECONDS)


class _Database:
    """One connection per process and file; SQLite serialises processes, the lock serialises threads."""

    def __init__(self, path: Path, key: str, generation: int) -> None:
        self.path = path
        self.key = key
        self.generation = generation
        self.users = 0
        self.lock = threading.Lock()
        self.changed = threading.Condition()
        self.waiters = 0
        self.local_commits = 0
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        _retry_busy(lambda: self.conn.execute("PRAGMA journal_mode=WAL"))
        self.conn.execute("PRAGMA synchronous=NORMAL")
        with self.write() as conn:
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    conn.execute(statement)

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, taken with BEGIN IMMEDIATE so it never fails half-way on a lock upgrade."""
        with self.lock:
            _retry_busy(lambda: self.conn.execute("BEGIN IMMEDIATE"))
            try:
                yield self.conn
                self.conn.execute("COMMIT")
            except BaseException:
                if self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                raise
            self.local_commits += 1
        self._notify()

    def execute_write(self, sql: str, params: Sequence[Any]) -> None:
        """One write statement in its own autocommit transaction: one round trip instead of three."""
        with self.lock:
            _retry_busy(lambda: self.conn.execute(sql, params))
            self.local_commits += 1
        self._notify()

    def query_one(self, sql: str, params: Sequence[Any]) -> tuple[Any, ...]:
        """One autocommit read statement."""
        with self.lock:
            return _retry_busy(lambda: self.conn.execute(sql, params).fetchone())

    @contextlib.contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: one consistent snapshot, which WAL lets run beside a writer."""
        with self.lock:
            self.conn.execute("BEGIN")
            try:
                yield self.conn
            finally:
                self.conn.execute("COMMIT")

    def version(self) -> tuple[int, int]:
        """Changes when any connection commits: data_version for other processes, a counter for this one."""
        with self.lock:
            return self.conn.execute("PRAGMA data_version").fetchone()[0], self.local_commits

    def _notify(self) -> None:
        """Wake this process's long polls at once; other processes see data_version within MAX_POLL_SECONDS."""
        if self.waiters:
            with self.changed:
                self.changed.notify_all()

    def wait_for_change(self, version: tuple[int, int], until: float) -> None:
        """Sleep until `until` (monotonic) or a commit, whichever comes first; the check interval grows
        from POLL_SECONDS to MAX_POLL_SECONDS while nothing happens, so an idle worker costs ~nothing."""
        interval = POLL_SECONDS
        while (remaining := until - time.monotonic()) > 0:
            with self.changed:
                self.waiters += 1
                try:
                    self.changed.wait(min(remaining, interval))
                finally:
                    self.waiters -= 1
            if self.version() != version:
                return
            interval = min(interval * 1.5, MAX_POLL_SECONDS)


_databases: dict[str, _Database] = {}
_databases_lock = threading.Lock()
_fork_generation = 0


def _forget_parent_connections() -> None:
    """In a forked child: the parent's connections must never be used (or closed) here."""
    global _fork_generation, _databases_lock
    _fork_generation += 1
    _databases.clear()
    _databases_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_parent_connections)


def _open_database(path: Path) -> _Database:
    """Share one connection per process and file."""
    key = str(path.resolve())
    with _databases_lock:
        database = _databases.get(key)
        if database is None:
            database = _databases[key] = _Database(path, key, _fork_generation)
        database.users += 1
        return database


def _release_database(database: _Database) -> None:
    """Close the shared connection when its last queue in this process closes."""
    if database.generation != _fork_generation:
        return
    with _databases_lock:
        database.users -= 1
        if database.users == 0:
            _databases.pop(database.key, None)
            database.conn.close()


def _ready_table(queue: str) -> str:
    """SQLite table names ignore case and SQS queue names do not, so the name is spelled in hex."""
    return f"queue_ready_{queue.encode().hex()}"


def _parse_handle(receipt_handle: str) -> tuple[int, str]:
    """A receipt handle is `<row id>:<token>`; the token changes at every receive, as in SQS."""
    row_id, sep, token = receipt_handle.partition(":")
    if not sep or not row_id.isdigit() or not token:
        raise ValueError(f"malformed receipt handle: {receipt_handle!r}")
    return int(row_id), token



def _message_id() -> str:
    """A random version-4 UUID, as SQS gives, at a fraction of uuid.uuid4()'s cost (ids need not be secret;
    `random` is reseeded in forked children)."""
    bits = random.getrandbits(128)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[bits >> 62 & 3]}{h[17:20]}-{h[20:]}"


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
        if not _NAME.fullmatch(name):
            raise ValueError(f"queue names are 1-80 letters, digits, '-' or '_' (as in SQS), got {name!r}")
        check_range("visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY_SECONDS)
        if max_receive_count is not None and max_receive_count < 1:
            raise ValueError("max_receive_count must be at least 1")
        self.name = name
        self.dlq_name = f"{name}-dlq"
        self.path = Path(path)
        self.visibility_timeout = visibility_timeout
        self.max_receive_count = max_receive_count
        self._ready = _ready_table(name)
        self._dlq_ready = _ready_table(self.dlq_name)
        self._sql = {key: sql.format(ready=self._ready) for key, sql in _PER_QUEUE_SQL.items()}
        self._send_sql = self._sql["send"]
        self._db: _Database | None = self._guard(lambda: _open_database(self.path))
        self._guard(self._create_ready_tables)

    def __repr__(self) -> str:
        return f"SqliteQueue({str(self.path)!r}, {self.name!r})"

    def _database(self) -> _Database:
        """This process's connection; a child forked with this queue opens its own, never the parent's."""
        if self._db is None:
            raise QueueUnavailable(f"queue {self.name!r} is closed")
        if self._db.generation != _fork_generation:
            self._db = self._guard(lambda: _open_database(self.path))
        return self._db

    @staticmethod
    def _guard(operation: Callable[[], T]) -> T:
        """Turn SQLite failures (locked past the busy timeout, disk errors) into QueueUnavailable (503)."""
        try:
            return operation()
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"sqlite queue failed: {exc}") from exc

    def _create_ready_tables(self) -> None:
        """This queue's ready table, and its DLQ's when it has one (dlq_stats reads it)."""
        with self._database().write() as conn:
            conn.execute(self._sql["schema"])
            if self.max_receive_count is not None:
                conn.execute(_READY_SCHEMA.format(ready=self._dlq_ready))

    def send(self, body: str, *, delay_seconds: int = 0, attributes: dict[str, str] | None = None) -> str:
        """Enqueue one message in its own commit, so it is durable when send returns."""
        check_range("delay_seconds", delay_seconds, 0, MAX_DELAY_SECONDS)
        if attributes and len(attributes) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} message attributes")
        message_id, now = _message_id(), _now_ms()
        row = (message_id, body, json.dumps(attributes) if attributes else None, now)
        database = self._database()
        try:
            if delay_seconds:
                database.execute_write(_SEND_DELAYED, (self.name, *row, now + int(delay_seconds * 1000)))
            else:
                database.execute_write(self._send_sql, row)
        except sqlite3.Error as exc:
            raise QueueUnavailable(f"sqlite queue failed: {exc}") from exc
        return message_id

    def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0.0, visibility_timeout: float | None = None
    ) -> list[Message]:
        """Claim up to max_messages, long-polling: sleep until a commit or a message's visibility time."""
        check_range("max_messages", max_messages, 1, MAX_BATCH)
        check_range("wait_seconds", wait_seconds, 0, MAX_WAIT_SECONDS)
        timeout = self.visibility_timeout if visibility_timeout is None else visibility_timeout
        check_range("visibility_timeout", timeout, 0, MAX_VISIBILITY_SECONDS)
        deadline = time.monotonic() + wait_seconds
        while True:
            messages = self._guard(lambda: self._claim(max_messages, int(timeout * 1000)))
            if messages or time.monotonic() >= deadline:
                return messages
            self._guard(lambda: self._wait_until_due(deadline))

    def _wait_until_due(self, deadline: float) -> None:
        """Sleep until a message may be due or the deadline passes, with reads only: an idle consumer
        never takes the write lock, and several woken by one message do not all try to claim it."""
        database = self._database()
        while True:
            version = database.version()
            (next_visible,) = database.query_one(self._sql["next_visible"], (self.name,))
            now_ms, now = _now_ms(), time.monotonic()
            if next_visible is not None and next_visible <= now_ms:
                return
            until = deadline if next_visible is None else min(deadline, now + (next_visible - now_ms) / 1000)
            if until <= now:
                return
            database.wait_for_change(version, until)

    def _claim(self, max_messages: int, visibility_ms: int) -> list[Message]:
        """In one write transaction: redrive exhausted candidates to the DLQ, claim due messages that were
        received before, then top the batch up with never-received ones."""
        params = {"queue": self.name, "now": _now_ms(), "n": max_messages, "vis": visibility_ms}
        with self._database().write() as conn:
            if self.max_receive_count is not None:
                conn.execute(_REDRIVE, {**params, "dlq": self.dlq_name, "max": self.max_receive_count})
            limit = self.max_receive_count or NO_REDRIVE
            rows = conn.execute(_CLAIM_SCHEDULED, {**params, "max": limit}).fetchall()
            if len(rows) < max_messages:
                fresh = conn.execute(self._sql["claim_ready"], {**params, "n": max_messages - len(rows)}).fetchall()
                if fresh:
                    conn.execute(self._sql["forget_ready"], (len(fresh),))
                rows += fresh
        return [self._message(row) for row in rows]

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
        check_range("timeout", timeout, 0, MAX_VISIBILITY_SECONDS)
        row_id, token = _parse_handle(receipt_handle)
        database = self._database()
        params = (_now_ms() + int(timeout * 1000), row_id, token, self.name)
        self._guard(lambda: database.execute_write(_CHANGE_VISIBILITY, params))

    def stats(self) -> QueueStats:
        return self._guard(lambda: _retry_busy(lambda: self._stats(self.name, self._sql["ready_stats"])))

    def dlq_stats(self) -> QueueStats:
        """The DLQ's stats; a queue without a redrive policy (a DLQ itself) has none, so all zero."""
        if self.max_receive_count is None:
            return QueueStats(visible=0, in_flight=0, delayed=0, oldest_age_seconds=0.0)
        ready_stats = _READY_STATS.format(ready=self._dlq_ready)
        return self._guard(lambda: _retry_busy(lambda: self._stats(self.dlq_name, ready_stats)))

    def _stats(self, queue: str, ready_stats: str) -> QueueStats:
        now = _now_ms()
        with self._database().read() as conn:
            visible, in_flight, delayed, oldest_ms = conn.execute(_STATS, {"queue": queue, "now": now}).fetchone()
            ready, oldest_ready_ms = conn.execute(ready_stats).fetchone()
        sent = [ms for ms in (oldest_ms, oldest_ready_ms) if ms is not None]
        age = max(0.0, (now - min(sent)) / 1000) if sent else 0.0
        return QueueStats(visible=visible + ready, in_flight=in_flight, delayed=delayed, oldest_age_seconds=age)

    def purge(self) -> None:
        """Delete every message of this queue (not of its DLQ), as SQS PurgeQueue does."""

        def purge() -> None:
            with self._database().write() as conn:
                conn.execute(self._sql["purge_ready"])
                conn.execute(_PURGE_SCHEDULED, (self.name,))

        self._guard(purge)

    def close(self) -> None:
        """Release this queue's share of the process's connection."""
        if self._db is not None:
            _release_database(self._db)
            self._db = None
