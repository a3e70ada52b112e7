"""The local consumer: long-polls the queues and runs the same batch handlers Lambda runs."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from streamstack.events.handlers import encode_record_handler, events_record_handler, process_batch
from streamstack.events.leases import lease, release_abandoned
from streamstack.media.safety import sweep_orphaned_job_dirs
from streamstack.platform import Platform
from streamstack.queue.base import Message, Queue, to_sqs_record

log = logging.getLogger("streamstack.worker")

Tick = Callable[[], None]
HEARTBEATS_PER_TIMEOUT = 3  # extend a held message three times per visibility timeout: two beats may fail


@dataclass
class QueueBinding:
    """A queue, the record handler for it, and how many messages one receive takes."""

    queue: Queue
    handler: Callable[..., None]
    batch_size: int


@dataclass
class Worker:
    platform: Platform
    poll_seconds: float = 1.0
    tick_seconds: float = 1.0
    ticks: list[Tick] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    in_flight: tuple[Queue, list[Message]] | None = None

    def bindings(self) -> list[QueueBinding]:
        """Encodes are long, so one at a time; metadata events are short, so ten per batch."""
        available = {
            "events": QueueBinding(self.platform.events_queue, events_record_handler(self.platform), 10),
            "encode": QueueBinding(self.platform.encode_queue, encode_record_handler(self.platform), 1),
        }
        return [available[name] for name in self.platform.settings.worker_queues]

    @property
    def lease_dir(self) -> Path:
        return self.platform.settings.data_dir / "leases"

    def recover(self) -> None:
        """What a killed predecessor left: its messages are made visible now, its temp dirs removed."""
        queues = {queue.name: queue for queue in self.platform.queues.values()}
        released = release_abandoned(self.lease_dir, queues)
        swept = sweep_orphaned_job_dirs()
        if released or swept:
            log.info("recovered after a killed worker", extra={"messages": released, "temp_dirs": swept})

    def run(self) -> None:
        run_safely(self.recover)
        bindings = self.bindings()
        ticker = threading.Thread(target=self.run_ticks, daemon=True, name="worker-ticks")
        ticker.start()
        while not self.stopping.is_set():
            idle = True
            for binding in bindings:
                if self.stopping.is_set():
                    break
                idle &= self.poll(binding, wait_seconds=0.0) == 0
            if idle and not self.stopping.is_set():
                self.poll(bindings[-1], wait_seconds=self.poll_seconds)
        ticker.join()

    def run_ticks(self) -> None:
        """Webhooks, heartbeat and gauges on their own thread, so an hour-long encode does not hold them up."""
        while not self.stopping.is_set():
            for tick in self.ticks:
                run_safely(tick)
            self.stopping.wait(self.tick_seconds)

    def poll(self, binding: QueueBinding, *, wait_seconds: float) -> int:
        messages = binding.queue.receive(max_messages=binding.batch_size, wait_seconds=wait_seconds)
        if messages:
            self.handle(binding, messages)
        return len(messages)

    def handle(self, binding: QueueBinding, messages: list[Message]) -> None:
        """Delete what succeeded; failures reappear after the visibility timeout, as under Lambda's mapping."""
        if self.stopping.is_set():
            give_back(binding.queue, messages)
            return
        queue_arn = f"arn:aws:sqs:{self.platform.settings.aws_region}:000000000000:{binding.queue.name}"
        event = {"Records": [to_sqs_record(m, queue_arn=queue_arn) for m in messages]}
        self.in_flight = (binding.queue, messages)
        try:
            with (lease(self.lease_dir, binding.queue, messages),
                  VisibilityHeartbeat(binding.queue, messages, self.platform.settings.queue_visibility_timeout)):
                result = process_batch(event, binding.handler)
        finally:
            self.in_flight = None
        failed = {item["itemIdentifier"] for item in result.get("batchItemFailures", [])}
        done = [m.receipt_handle for m in messages if m.message_id not in failed]
        if done:
            binding.queue.delete_batch(done)
        for message in messages:
            if message.message_id in failed:
                log.warning("message failed; it will be retried", extra={"message_id": message.message_id,
                                                                          "queue": binding.queue.name})

    def install_signal_handlers(self) -> None:
        """SIGTERM (ECS, Ctrl-C): stop taking work and give messages in hand back at once; a running job ends
        now (its cleanup runs, ffmpeg is killed) instead of being SIGKILLed with its message hidden for long."""

        def stop(signum: int, _frame: Any) -> None:
            log.info("worker stopping on signal %s", signum)
            self.stopping.set()
            if self.in_flight is not None:
                queue, messages = self.in_flight
                self.in_flight = None
                give_back(queue, messages)
                raise SystemExit(128 + signum)

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)


def give_back(queue: Queue, messages: list[Message]) -> None:
    for message in messages:
        queue.change_visibility(message.receipt_handle, 0)


def run_safely(tick: Tick) -> None:
    try:
        tick()
    except Exception:
        log.exception("periodic task failed")


class VisibilityHeartbeat:
    """Extends the visibility of messages under work (ChangeMessageVisibility), so the timeout can be short:
    a live job is never redelivered, a dead worker's job is redelivered one timeout after its last beat."""

    def __init__(self, queue: Queue, messages: list[Message], timeout: float):
        self.queue = queue
        self.messages = messages
        self.timeout = timeout
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True, name="visibility-heartbeat")

    def __enter__(self) -> VisibilityHeartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._done.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._done.wait(self.timeout / HEARTBEATS_PER_TIMEOUT):
            for message in self.messages:
                try:
                    self.queue.change_visibility(message.receipt_handle, self.timeout)
                except Exception:
                    log.warning("could not extend visibility", extra={"message_id": message.message_id})
