"""The Queue protocol: SQS semantics (visibility, receive count, DLQ redrive) for every adapter."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

# SQS's limits: every adapter refuses what SQS refuses, so a call that works locally works against AWS.
MAX_BATCH = 10
MAX_WAIT_SECONDS = 20
MAX_DELAY_SECONDS = 900
MAX_VISIBILITY_SECONDS = 43200
MAX_ATTRIBUTES = 10


def check_range(name: str, value: float, low: float, high: float) -> None:
    """The same ValueError from every adapter for an argument outside SQS's limits."""
    if not low <= value <= high:
        raise ValueError(f"{name} must be between {low:g} and {high:g}, got {value!r}")


class QueueUnavailable(RuntimeError):
    """The queue backend failed; callers answer 503."""


@dataclass(frozen=True)
class Message:
    """One received message, shaped like an SQS ReceiveMessage entry."""

    message_id: str
    receipt_handle: str
    body: str
    receive_count: int
    sent_timestamp_ms: int
    message_attributes: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class QueueStats:
    visible: int
    in_flight: int
    delayed: int
    oldest_age_seconds: float


@runtime_checkable
class Queue(Protocol):
    """A queue with a dead-letter queue, as SQS with a RedrivePolicy."""

    name: str

    def send(self, body: str, *, delay_seconds: int = 0, attributes: dict[str, str] | None = None) -> str:
        """Enqueue and return the message id."""
        ...

    def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0.0, visibility_timeout: float | None = None
    ) -> list[Message]:
        """Long-poll up to wait_seconds for up to max_messages (1-10)."""
        ...

    def delete(self, receipt_handle: str) -> None:
        ...

    def delete_batch(self, receipt_handles: list[str]) -> None:
        ...

    def change_visibility(self, receipt_handle: str, timeout: float) -> None:
        """0 makes the message visible again at once (used on graceful shutdown)."""
        ...

    def stats(self) -> QueueStats:
        ...

    def dlq_stats(self) -> QueueStats:
        ...

    def purge(self) -> None:
        ...


def to_sqs_record(message: Message, *, queue_arn: str, region: str = "us-east-1") -> dict[str, Any]:
    """The Lambda SQS event record for a message, so one handler runs under the worker and under Lambda."""
    return {
        "messageId": message.message_id,
        "receiptHandle": message.receipt_handle,
        "body": message.body,
        "attributes": {
            "ApproximateReceiveCount": str(message.receive_count),
            "SentTimestamp": str(message.sent_timestamp_ms),
            "SenderId": "streamstack",
            "ApproximateFirstReceiveTimestamp": str(message.sent_timestamp_ms),
        },
        "messageAttributes": {
            name: {"stringValue": value, "stringListValues": [], "binaryListValues": [], "dataType": "String"}
            for name, value in message.message_attributes.items()
        },
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
