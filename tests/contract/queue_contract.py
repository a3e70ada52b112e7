"""The Queue contract: one suite that every Queue adapter (SQLite now, SQS later) must pass.

Use it by subclassing `QueueContract` in a test module (named Test...) and giving the class a
`queue_factory` fixture: a picklable, zero-argument callable that opens the same fresh, empty queue
each time it is called, in this process or in a spawned child, with VISIBILITY_TIMEOUT as the
queue's default visibility timeout and a redrive policy of MAX_RECEIVE_COUNT to its DLQ.
Pickling is how the multi-process tests hand the queue to consumer processes (spawn: nothing is
inherited but the environment), so build it from a simple spec:

- SQLite: ``functools.partial(SqliteQueue, tmp_path / "queue.db", "contract", visibility_timeout=2,
  max_receive_count=3)``.
- SQS on moto: start moto in server mode (``moto.server.ThreadedMotoServer``, not ``mock_aws``,
  whose fake lives inside one process), create the queue and its DLQ there, and return e.g.
  ``functools.partial(SqsQueue, queue_url, endpoint_url=server_url, region="us-east-1")``; set dummy
  AWS credentials in os.environ before the test so that spawned children inherit them.

Timing: every time-based check is a lower bound that holds by construction (a message made
visible at t0 + timeout cannot be received before it) or a generous upper bound; "not yet visible"
is checked with delays and timeouts (60 s) far longer than the test. No test sleeps for a fixed
time and expects an exact outcome. Wait and visibility times are whole seconds, as SQS requires.

Set ``strict_receipt_handles = False`` on a subclass whose backend may still delete with a stale
receipt handle: moto 5.x deletes with any handle a message ever had, and AWS documents only that a
stale handle "might not" delete. Adapters must refuse bad arguments (batch size outside 1..10)
with ValueError, as SQS refuses them, so a call that works locally works in the cloud.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from multiprocessing.connection import Connection

import pytest

from streamstack.queue.base import Message, Queue, QueueStats

VISIBILITY_TIMEOUT = 2
MAX_RECEIVE_COUNT = 3
LONG = 60  # seconds: longer than any test, for "must stay invisible"
TOLERANCE = 0.25  # seconds: millisecond rounding between clocks, for lower bounds
EMPTY = QueueStats(visible=0, in_flight=0, delayed=0, oldest_age_seconds=0.0)

QueueFactory = Callable[[], Queue]


def close(queue: Queue) -> None:
    """Adapters may hold connections; the protocol does not require close()."""
    closer = getattr(queue, "close", None)
    if closer is not None:
        closer()


def counts(stats: QueueStats) -> tuple[int, int, int]:
    """Stats without the age, which moves with the clock."""
    return stats.visible, stats.in_flight, stats.delayed


def receive_until(queue: Queue, predicate: Callable[[list[Message]], bool], *, timeout: float) -> list[Message]:
    """Long-poll and collect messages (hidden for LONG) until predicate(collected) or the timeout."""
    collected: list[Message] = []
    deadline = time.monotonic() + timeout
    while not predicate(collected) and time.monotonic() < deadline:
        collected += queue.receive(max_messages=10, wait_seconds=1, visibility_timeout=LONG)
    return collected


def drain(factory: QueueFactory) -> list[str]:
    """Consumer process: receive by tens and delete until a long poll comes back empty."""
    queue = factory()
    processed: list[str] = []
    while batch := queue.receive(max_messages=10, wait_seconds=2, visibility_timeout=LONG):
        processed += [message.body for message in batch]
        queue.delete_batch([message.receipt_handle for message in batch])
    close(queue)
    return processed


def ack_some_then_hang(factory: QueueFactory, report: Connection, ack_count: int) -> None:
    """Consumer process that acknowledges part of a batch, reports, and hangs until it is killed."""
    queue = factory()
    started = time.time()
    batch: list[Message] = []
    while not batch:
        batch = queue.receive(max_messages=10, wait_seconds=2)  # the queue's own visibility timeout
    acked = batch[:ack_count]
    for message in acked:
        queue.delete(message.receipt_handle)
    report.send((started, [m.body for m in batch], [m.body for m in acked]))
    time.sleep(600)


class QueueContract:
    """SQS semantics every adapter must honour; subclasses provide the `queue_factory` fixture."""

    strict_receipt_handles = True

    @pytest.fixture
    def queue_factory(self) -> QueueFactory:
        raise NotImplementedError("subclasses provide a picklable queue_factory fixture")

    @pytest.fixture
    def queue(self, queue_factory: QueueFactory) -> Iterator[Queue]:
        queue = queue_factory()
        yield queue
        close(queue)

    def test_send_receive_delete(self, queue: Queue) -> None:
        before = time.time()
        message_id = queue.send('{"hello": "world"}')
        (message,) = queue.receive(wait_seconds=5)
        assert message.message_id == message_id
        assert message.body == '{"hello": "world"}'
        assert message.receive_count == 1
        assert before * 1000 - 1000 <= message.sent_timestamp_ms <= time.time() * 1000 + 1000
        queue.delete(message.receipt_handle)
        assert queue.receive(wait_seconds=0) == []
        assert counts(queue.stats()) == (0, 0, 0)

    def test_message_ids_are_unique(self, queue: Queue) -> None:
        assert len({queue.send("same body") for _ in range(20)}) == 20

    def test_batch_is_at_most_ten(self, queue: Queue) -> None:
        sent = {f"m-{i}" for i in range(25)}
        for body in sorted(sent):
            queue.send(body)
        batches: list[list[Message]] = []
        deadline = time.monotonic() + 30
        while sum(map(len, batches)) < 25 and time.monotonic() < deadline:
            batches.append(queue.receive(max_messages=10, wait_seconds=1, visibility_timeout=LONG))
        assert all(len(batch) <= 10 for batch in batches)
        assert sorted(m.body for batch in batches for m in batch) == sorted(sent)
        queue.delete_batch([m.receipt_handle for batch in batches for m in batch])
        assert counts(queue.stats()) == (0, 0, 0)

    def test_batch_size_outside_one_to_ten_is_refused(self, queue: Queue) -> None:
        for bad in (0, 11):
            with pytest.raises(ValueError):
                queue.receive(max_messages=bad)

    def test_smaller_batch_is_honoured(self, queue: Queue) -> None:
        for i in range(5):
            queue.send(str(i))
        assert 1 <= len(queue.receive(max_messages=3, wait_seconds=2, visibility_timeout=LONG)) <= 3

    def test_delay_hides_a_message_until_due(self, queue: Queue) -> None:
        before = time.time()
        queue.send("later", delay_seconds=2)
        queue.send("now")
        got = receive_until(queue, lambda ms: any(m.body == "later" for m in ms), timeout=15)
        arrival = time.time()
        assert sorted(m.body for m in got) == ["later", "now"]
        assert arrival >= before + 2 - TOLERANCE

    def test_long_delay_is_counted_as_delayed(self, queue: Queue) -> None:
        queue.send("much later", delay_seconds=LONG)
        assert counts(queue.stats()) == (0, 0, 1)
        assert queue.receive(wait_seconds=1) == []

    def test_received_message_is_invisible_until_its_timeout(self, queue: Queue) -> None:
        queue.send("once")
        assert len(queue.receive(wait_seconds=5, visibility_timeout=LONG)) == 1
        assert queue.receive(wait_seconds=1) == []
        assert counts(queue.stats()) == (0, 1, 0)

    def test_visibility_timeout_expiry_redelivers_with_count_two(self, queue: Queue) -> None:
        message_id = queue.send("retry me")
        before = time.time()
        (first,) = queue.receive(wait_seconds=5)  # the queue's default visibility timeout
        again = queue.receive(wait_seconds=VISIBILITY_TIMEOUT + 10, visibility_timeout=LONG)
        assert time.time() >= before + VISIBILITY_TIMEOUT - TOLERANCE
        assert [(m.message_id, m.receive_count) for m in again] == [(message_id, 2)]
        assert again[0].receipt_handle != first.receipt_handle

    def test_per_receive_visibility_timeout_overrides_the_queue_default(self, queue: Queue) -> None:
        queue.send("slow job")
        before = time.time()
        queue.receive(wait_seconds=5, visibility_timeout=VISIBILITY_TIMEOUT + 2)
        (again,) = queue.receive(wait_seconds=VISIBILITY_TIMEOUT + 12)
        assert time.time() >= before + VISIBILITY_TIMEOUT + 2 - TOLERANCE
        assert again.receive_count == 2

    def test_change_visibility_zero_makes_it_visible_now(self, queue: Queue) -> None:
        message_id = queue.send("give back")
        (first,) = queue.receive(wait_seconds=5, visibility_timeout=LONG)
        queue.change_visibility(first.receipt_handle, 0)
        again = queue.receive(wait_seconds=5, visibility_timeout=LONG)
        assert [(m.message_id, m.receive_count) for m in again] == [(message_id, 2)]

    def test_change_visibility_extends_the_timeout(self, queue: Queue) -> None:
        queue.send("long job")
        (first,) = queue.receive(wait_seconds=5)  # short default timeout...
        queue.change_visibility(first.receipt_handle, LONG)  # ...extended before it expires
        assert queue.receive(wait_seconds=VISIBILITY_TIMEOUT + 2) == []
        queue.delete(first.receipt_handle)
        assert counts(queue.stats()) == (0, 0, 0)

    def test_stale_receipt_handle_does_not_delete(self, queue: Queue) -> None:
        if not self.strict_receipt_handles:
            pytest.skip("this backend may delete with a stale receipt handle")
        queue.send("received twice")
        (first,) = queue.receive(wait_seconds=5, visibility_timeout=LONG)
        queue.change_visibility(first.receipt_handle, 0)
        (second,) = queue.receive(wait_seconds=5, visibility_timeout=LONG)
        queue.delete(first.receipt_handle)
        queue.delete_batch([first.receipt_handle])
        assert counts(queue.stats()) == (0, 1, 0)
        queue.delete(second.receipt_handle)
        assert counts(queue.stats()) == (0, 0, 0)

    def test_stale_receipt_handle_does_not_change_visibility(self, queue: Queue) -> None:
        """A dead worker's handle, given back by the next worker, must not expose the message's new holder."""
        if not self.strict_receipt_handles:
            pytest.skip("this backend may accept a stale receipt handle")
        queue.send("held twice")
        (first,) = queue.receive(wait_seconds=5, visibility_timeout=LONG)
        queue.change_visibility(first.receipt_handle, 0)
        (second,) = queue.receive(wait_seconds=5, visibility_timeout=LONG)
        queue.change_visibility(first.receipt_handle, 0)  # stale: changes nothing
        assert queue.receive(wait_seconds=1) == []
        assert counts(queue.stats()) == (0, 1, 0)
        queue.change_visibility(second.receipt_handle, LONG)  # the current holder's heartbeat still works
        queue.delete(second.receipt_handle)
        assert counts(queue.stats()) == (0, 0, 0)

    def test_redrive_to_dlq_after_max_receive_count(self, queue: Queue) -> None:
        queue.send("poison")
        for attempt in range(1, MAX_RECEIVE_COUNT + 1):
            (message,) = queue.receive(wait_seconds=5, visibility_timeout=LONG)
            assert message.receive_count == attempt
            queue.change_visibility(message.receipt_handle, 0)
        assert queue.receive(wait_seconds=1) == []  # this receive would exceed the count: moved instead
        assert counts(queue.stats()) == (0, 0, 0)
        assert counts(queue.dlq_stats()) == (1, 0, 0)

    def test_message_attributes_round_trip(self, queue: Queue) -> None:
        attributes = {"event": "ObjectCreated:Put", "trace-id": "1-abc-def", "note": "über ✓"}
        body = '{"key": "uploads/é.mp4"}'
        queue.send(body, attributes=attributes)
        queue.send("plain")
        got = {m.body: m for m in receive_until(queue, lambda ms: len(ms) == 2, timeout=10)}
        assert got[body].message_attributes == attributes
        assert got["plain"].message_attributes == {}

    def test_long_poll_returns_when_a_message_arrives(self, queue: Queue, queue_factory: QueueFactory) -> None:
        def send_later() -> None:
            time.sleep(1)
            sender = queue_factory()
            sender.send("wake up")
            close(sender)

        thread = threading.Thread(target=send_later)
        started = time.monotonic()
        thread.start()
        got = queue.receive(wait_seconds=15)
        elapsed = time.monotonic() - started
        thread.join()
        assert [m.body for m in got] == ["wake up"]
        assert 1 - TOLERANCE <= elapsed < 8

    def test_long_poll_waits_when_nothing_arrives(self, queue: Queue) -> None:
        started = time.monotonic()
        assert queue.receive(wait_seconds=1) == []
        assert time.monotonic() - started >= 1 - TOLERANCE

    def test_stats(self, queue: Queue) -> None:
        assert counts(queue.stats()) == (0, 0, 0)
        for i in range(3):
            queue.send(f"visible {i}")
        queue.send("delayed", delay_seconds=LONG)
        (taken,) = queue.receive(max_messages=1, wait_seconds=5, visibility_timeout=LONG)
        assert taken.body.startswith("visible")
        stats = queue.stats()
        assert counts(stats) == (2, 1, 1)
        assert stats.oldest_age_seconds >= 0.0
        assert counts(queue.dlq_stats()) == (0, 0, 0)

    def test_purge(self, queue: Queue) -> None:
        for i in range(3):
            queue.send(str(i))
        queue.send("delayed", delay_seconds=LONG)
        queue.purge()
        assert counts(queue.stats()) == (0, 0, 0)
        assert queue.receive(wait_seconds=0) == []

    def test_consumer_processes_see_each_message_once(self, queue: Queue, queue_factory: QueueFactory) -> None:
        sent = [f"job-{i}" for i in range(150)]
        for body in sent:
            queue.send(body)
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(max_workers=3, mp_context=context) as pool:
            results = [pool.submit(drain, queue_factory) for _ in range(3)]
            processed = [body for result in results for body in result.result(timeout=120)]
        assert sorted(processed) == sorted(sent)
        assert counts(queue.stats()) == (0, 0, 0)

    def test_sigkill_mid_batch_loses_nothing_and_duplicates_nothing(
        self, queue: Queue, queue_factory: QueueFactory
    ) -> None:
        sent = [f"event-{i}" for i in range(20)]
        for body in sent:
            queue.send(body)
        context = multiprocessing.get_context("spawn")
        reader, writer = context.Pipe(duplex=False)
        victim = context.Process(target=ack_some_then_hang, args=(queue_factory, writer, 3))
        victim.start()
        try:
            assert reader.poll(60), "the consumer never reported its batch"
            started, received, acked = reader.recv()
        finally:
            os.kill(victim.pid, signal.SIGKILL)
            victim.join(30)
        assert victim.exitcode == -signal.SIGKILL
        assert len(acked) == 3 and len(received) > 3
        processed = list(acked)
        deadline = time.monotonic() + VISIBILITY_TIMEOUT + 30
        while len(processed) < len(sent) and time.monotonic() < deadline:
            batch = queue.receive(max_messages=10, wait_seconds=2, visibility_timeout=LONG)
            for message in batch:
                if message.body in received:
                    assert message.receive_count >= 2
                    assert time.time() >= started + VISIBILITY_TIMEOUT - TOLERANCE
            processed += [message.body for message in batch]
            queue.delete_batch([message.receipt_handle for message in batch])
        assert sorted(processed) == sorted(sent)
        assert counts(queue.stats()) == (0, 0, 0)
