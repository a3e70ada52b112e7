"""Build the configured Queue adapter once, from Settings, so domain code never names a concrete class."""

from __future__ import annotations

from streamstack.queue.base import Queue
from streamstack.settings import Settings

DLQ_SUFFIX = "-dlq"


def open_queue(settings: Settings, name: str) -> Queue:
    """The queue `name` (with its `<name>-dlq`) on the backend the settings select; a DLQ has no DLQ."""
    backend = settings.resolved_queue_backend
    if backend == "sqlite":
        from streamstack.queue.sqlite import SqliteQueue

        return SqliteQueue(
            settings.queue_path,
            name,
            visibility_timeout=settings.queue_visibility_timeout,
            max_receive_count=None if name.endswith(DLQ_SUFFIX) else settings.queue_max_receive_count,
        )
    if backend == "sqs":
        from streamstack.queue.sqs import SqsQueue

        return SqsQueue.from_settings(settings, name)  # queues and DLQs come from Terraform
    raise ValueError(f"unknown queue backend {backend!r}")
