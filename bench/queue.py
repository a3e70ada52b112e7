"""Queue throughput: send -> receive -> delete through the SQLite adapter, one producer, 4 consumer processes.

Printed beside bare SQLite loops run in the same process, on the same disk, with the adapter's PRAGMAs
(WAL, synchronous=NORMAL), which bound what any queue built on one SQLite file can do:

- ceiling: the bare insert/delete loop, one commit to insert a message and one to delete it;
- strict: one commit per insert but deletes committed ten at a time, as delete_batch does.

The target is adapter >= 0.5 x ceiling. Rounds alternate the loops and the adapter, and the best of
each is kept, so that a burst of load from a neighbour on a shared machine does not decide the ratio.

    .venv/bin/python bench/queue.py [--messages 10000] [--consumers 4] [--rounds 5]
"""

from __future__ import annotations

import sys
from pathlib import Path

# Run as a script, this file's folder comes first on sys.path and would shadow the stdlib `queue`.
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != Path(__file__).resolve().parent]

import argparse  # noqa: E402
import multiprocessing  # noqa: E402
import os  # noqa: E402
import sqlite3  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from dataclasses import dataclass  # noqa: E402
from typing import Any  # noqa: E402

from streamstack.queue.sqlite import SqliteQueue  # noqa: E402

BATCH = 10
TARGET_RATIO = 0.5
QUEUE_NAME = "bench"
BODY = '{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"object": {"key": "uploads/clip.mp4"}}}]}'


@dataclass(frozen=True)
class Result:
    label: str
    messages: int
    seconds: float

    @property
    def rate(self) -> float:
        return self.messages / self.seconds


def open_bare(path: Path) -> sqlite3.Connection:
    """A connection set up as the adapter sets up its own."""
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("CREATE TABLE messages (id INTEGER PRIMARY KEY, body TEXT NOT NULL)")
    return conn


def bare_loop(path: Path, messages: int, delete_every: int) -> float:
    """Insert each message in its own commit and delete them `delete_every` per commit; returns seconds."""
    conn = open_bare(path)
    pending: list[tuple[int]] = []
    start = time.perf_counter()
    for _ in range(messages):
        pending.append((conn.execute("INSERT INTO messages (body) VALUES (?)", (BODY,)).lastrowid,))
        if len(pending) == delete_every:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany("DELETE FROM messages WHERE id = ?", pending)
            conn.execute("COMMIT")
            pending.clear()
    seconds = time.perf_counter() - start
    conn.close()
    return seconds


def consume(path: str, ready: Any, done: Any, results: Any) -> None:
    """Consumer process: receive by tens and delete_batch until the producer is done and the queue empty."""
    parent = os.getppid()
    queue = SqliteQueue(path, QUEUE_NAME, visibility_timeout=60)
    ready.wait(timeout=120)
    count, last_ack = 0, time.perf_counter()
    while True:
        batch = queue.receive(max_messages=BATCH, wait_seconds=0.2)
        if not batch:
            if done.is_set() or os.getppid() != parent:
                break
            continue
        queue.delete_batch([message.receipt_handle for message in batch])
        count += len(batch)
        last_ack = time.perf_counter()
    queue.close()
    results.put((count, last_ack))


def adapter_run(path: Path, messages: int, consumers: int) -> float:
    """This process sends while `consumers` spawned processes receive and delete; returns seconds."""
    context = multiprocessing.get_context("spawn")
    ready, done, results = context.Barrier(consumers + 1), context.Event(), context.SimpleQueue()
    queue = SqliteQueue(path, QUEUE_NAME, visibility_timeout=60)
    workers = [
        context.Process(target=consume, args=(str(path), ready, done, results), daemon=True) for _ in range(consumers)
    ]
    for worker in workers:
        worker.start()
    ready.wait(timeout=120)  # every consumer has its connection open: the clock starts now
    start = time.perf_counter()
    for _ in range(messages):
        queue.send(BODY)
    done.set()
    reports = [results.get() for _ in workers]
    for worker in workers:
        worker.join()
    acked, stats = sum(count for count, _ in reports), queue.stats()
    queue.close()
    if acked != messages or stats.visible or stats.in_flight:
        raise SystemExit(f"lost or duplicated messages: sent {messages}, acknowledged {acked}, left {stats}")
    return max(last_ack for _, last_ack in reports) - start


def print_table(results: list[Result], rounds: list[dict[str, float]], consumers: int) -> None:
    """Best rates side by side, the ratios and the target, and each round's own ratio as a noise gauge."""
    ceiling, strict, adapter = results
    print(f"{'':8} {'what':70} {'msgs/s':>9} {'seconds':>8}")
    for tag, result in zip(("ceiling", "strict", "adapter"), results, strict=True):
        print(f"{tag:8} {result.label:70} {result.rate:>9,.0f} {result.seconds:>8.2f}")
    ratio = adapter.rate / ceiling.rate
    verdict = "met" if ratio >= TARGET_RATIO else "NOT met"
    print(f"ratio adapter/ceiling = {ratio:.2f}   target >= {TARGET_RATIO:.2f}: {verdict}")
    print(f"ratio adapter/strict  = {adapter.rate / strict.rate:.2f}   (for reference)")
    per_round = [seconds["ceiling"] / seconds["adapter"] for seconds in rounds]
    print(
        f"adapter/ceiling in each round: {', '.join(f'{r:.2f}' for r in per_round)}"
        f" (median {statistics.median(per_round):.2f})"
    )
    print(
        f"{adapter.messages} messages, {consumers} consumers, best of {len(rounds)} rounds, "
        f"sqlite {sqlite3.sqlite_version}, {os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10000, help="messages per run (default 10000)")
    parser.add_argument("--consumers", type=int, default=4, help="consumer processes (default 4)")
    parser.add_argument("--rounds", type=int, default=5, help="runs of each, best kept (default 5)")
    parser.add_argument("--dir", type=Path, default=None, help="where the database files go (default: temp)")
    args = parser.parse_args()
    n = args.messages
    runs: dict[str, Callable[[Path], float]] = {
        "ceiling": lambda path: bare_loop(path, n, delete_every=1),
        "strict": lambda path: bare_loop(path, n, delete_every=BATCH),
        "adapter": lambda path: adapter_run(path, n, args.consumers),
    }
    rounds: list[dict[str, float]] = []
    with tempfile.TemporaryDirectory(dir=args.dir, prefix="queue-bench-") as workdir:
        for round_ in range(args.rounds):
            rounds.append({name: run(Path(workdir) / f"{name}-{round_}.db") for name, run in runs.items()})
    labels = {
        "ceiling": "bare SQLite loop: insert, delete, a commit each (1 process)",
        "strict": "bare SQLite loop: insert a commit each, delete 10 per commit",
        "adapter": f"SqliteQueue send -> receive({BATCH}) -> delete_batch, {args.consumers} procs",
    }
    best = [Result(labels[name], n, min(seconds[name] for seconds in rounds)) for name in runs]
    print_table(best, rounds, args.consumers)


if __name__ == "__main__":
    main()
