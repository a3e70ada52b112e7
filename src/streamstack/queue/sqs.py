"""SQS Queue adapter: the Queue protocol over boto3, with the redrive policy to `<name>-dlq` that SQS applies.

Production queues (and their DLQs, visibility and redrive policy) come from Terraform; `create_queue`
exists for tests, moto and `STREAMSTACK_PROFILE=aws` development accounts, and runs only when asked.
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Callable
from typing import Any, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from streamstack.aws import client, error_code, make_client
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
from streamstack.settings import Settings

T = TypeVar("T")

DLQ_SUFFIX = "-dlq"
DLQ_RETENTION_SECONDS = 14 * 24 * 3600
INVALID_HANDLE_CODES = {
    "ReceiptHandleIsInvalid", "InvalidParameterValue", "AWS.SimpleQueueService.ReceiptHandleIsInvalid",
}
NOT_IN_FLIGHT_CODES = {"MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight"}
STATS_ATTRIBUTES = [
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
]



def _seconds(value: float) -> int:
    """SQS takes whole seconds; round up so a message is never visible earlier than asked."""
    return math.ceil(value)


class SqsQueue:
    """One SQS queue; its DLQ is found through the queue's RedrivePolicy (or named `<name>-dlq`)."""

    def __init__(
        self,
        queue_url: str | None = None,
        *,
        name: str | None = None,
        region: str = "us-east-1",
        endpoint_url: str | None = None,
        visibility_timeout: float | None = None,
        sqs_client: Any = None,
    ) -> None:
        if not queue_url and not name:
            raise ValueError("give a queue_url or a queue name")
        if visibility_timeout is not None:
            check_range("visibility_timeout", visibility_timeout, 0, MAX_VISIBILITY_SECONDS)
        self.name = name or str(queue_url).rstrip("/").rsplit("/", 1)[-1]
        self.visibility_timeout = visibility_timeout
        self.client = sqs_client or make_client("sqs", region=region, endpoint_url=endpoint_url)
        self._url = queue_url
        self._dlq_url: str | None = None
        self._lock = threading.Lock()

    @classmethod
    def from_settings(cls, settings: Settings, name: str, *, create: bool = False) -> SqsQueue:
        """The queue `name` with the settings' visibility; create=True makes it and its DLQ if missing."""
        sqs = client("sqs", settings)
        url = None
        if create:
            max_receive = None if name.endswith(DLQ_SUFFIX) else settings.queue_max_receive_count
            url = create_queue(sqs, name, visibility_timeout=settings.queue_visibility_timeout,
                               max_receive_count=max_receive)
        return cls(url, name=name, visibility_timeout=settings.queue_visibility_timeout, sqs_client=sqs)

    def __repr__(self) -> str:
        return f"SqsQueue({self.name!r})"

    @property
    def url(self) -> str:
        """Resolved on first use, so building the platform needs no network round trip."""
        with self._lock:
            if self._url is None:
                self._url = self._call(lambda: self.client.get_queue_url(QueueName=self.name)["QueueUrl"])
            return self._url

    @property
    def arn(self) -> str:
        """The queue ARN, as Lambda's event source mapping puts it in every record."""
        attributes = self._attributes(self.url, ["QueueArn"])
        return attributes["QueueArn"]

    def send(self, body: str, *, delay_seconds: int = 0, attributes: dict[str, str] | None = None) -> str:
        check_range("delay_seconds", delay_seconds, 0, MAX_DELAY_SECONDS)
        if attributes and len(attributes) > MAX_ATTRIBUTES:
            raise ValueError(f"at most {MAX_ATTRIBUTES} message attributes")
        request: dict[str, Any] = {"QueueUrl": self.url, "MessageBody": body, "DelaySeconds": _seconds(delay_seconds)}
        if attributes:
            request["MessageAttributes"] = {
                key: {"DataType": "String", "StringValue": value} for key, value in attributes.items()
            }
        return self._call(lambda: self.client.send_message(**request))["MessageId"]

    def receive(
        self, *, max_messages: int = 10, wait_seconds: float = 0.0, visibility_timeout: float | None = None
    ) -> list[Message]:
        """ReceiveMessage with long polling; the queue's redrive policy moves exhausted messages to the DLQ."""
        check_range("max_messages", max_messages, 1, MAX_BATCH)
        check_range("wait_seconds", wait_seconds, 0, MAX_WAIT_SECONDS)
        timeout = self.visibility_timeout if visibility_timeout is None else visibility_timeout
        request: dict[str, Any] = {
            "QueueUrl": self.url,
            "MaxNumberOfMessages": max_messages,
            "WaitTimeSeconds": _seconds(wait_seconds),
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
            "MessageAttributeNames": ["All"],
        }
        if timeout is not None:
            check_range("visibility_timeout", timeout, 0, MAX_VISIBILITY_SECONDS)
            request["VisibilityTimeout"] = _seconds(timeout)
        response = self._call(lambda: self.client.receive_message(**request))
        return [_message(entry) for entry in response.get("Messages", [])]

    def delete(self, receipt_handle: str) -> None:
        """Acknowledge; a handle SQS calls invalid is a ValueError, as a malformed one is for SQLite."""
        try:
            self._call(lambda: self.client.delete_message(QueueUrl=self.url, ReceiptHandle=receipt_handle))
        except QueueUnavailable as exc:
            if error_code(exc.__cause__ or exc) in INVALID_HANDLE_CODES:
                raise ValueError("invalid receipt handle") from exc
            raise

    def delete_batch(self, receipt_handles: list[str]) -> None:
        """DeleteMessageBatch by tens; stale handles are skipped, server-side failures raise."""
        for start in range(0, len(receipt_handles), MAX_BATCH):
            chunk = receipt_handles[start : start + MAX_BATCH]
            entries = [{"Id": str(i), "ReceiptHandle": handle} for i, handle in enumerate(chunk)]
            response = self._delete_entries(entries)
            if any(not failure.get("SenderFault", False) for failure in response.get("Failed", [])):
                raise QueueUnavailable(f"sqs could not delete some messages of {self.name!r}")


    def _delete_entries(self, entries: list[dict[str, str]]) -> dict[str, Any]:
        return self._call(lambda: self.client.delete_message_batch(QueueUrl=self.url, Entries=entries))
    def change_visibility(self, receipt_handle: str, timeout: float) -> None:
        """0 makes the message visible at once; a message no longer ours (deleted, redelivered) is left alone."""
        check_range("timeout", timeout, 0, MAX_VISIBILITY_SECONDS)
        try:
            self._call(lambda: self.client.change_message_visibility(
                QueueUrl=self.url, ReceiptHandle=receipt_handle, VisibilityTimeout=_seconds(timeout)))
        except QueueUnavailable as exc:
            if error_code(exc.__cause__ or exc) not in NOT_IN_FLIGHT_CODES | INVALID_HANDLE_CODES:
                raise

    def stats(self) -> QueueStats:
        return self._stats(self.url)

    def dlq_stats(self) -> QueueStats:
        return self._stats(self._dead_letter_url())

    def purge(self) -> None:
        """PurgeQueue (SQS allows one per queue per 60 s)."""
        self._call(lambda: self.client.purge_queue(QueueUrl=self.url))

    def close(self) -> None:
        """boto3 clients need no closing; present so Platform.close treats every adapter alike."""

    def _stats(self, url: str) -> QueueStats:
        """GetQueueAttributes counts; SQS reports the oldest message's age only as a CloudWatch metric."""
        values = self._attributes(url, STATS_ATTRIBUTES)
        visible, in_flight, delayed = (int(values.get(name, 0)) for name in STATS_ATTRIBUTES)
        return QueueStats(visible=visible, in_flight=in_flight, delayed=delayed, oldest_age_seconds=0.0)

    def _dead_letter_url(self) -> str:
        """The DLQ named by the RedrivePolicy, else `<name>-dlq`."""
        if self._dlq_url is None:
            policy = self._attributes(self.url, ["RedrivePolicy"]).get("RedrivePolicy")
            dlq_name = json.loads(policy)["deadLetterTargetArn"].rsplit(":", 1)[-1] if policy else None
            name = dlq_name or self.name + DLQ_SUFFIX
            self._dlq_url = self._call(lambda: self.client.get_queue_url(QueueName=name)["QueueUrl"])
        return self._dlq_url

    def _attributes(self, url: str, names: list[str]) -> dict[str, str]:
        response = self._call(lambda: self.client.get_queue_attributes(QueueUrl=url, AttributeNames=names))
        return dict(response.get("Attributes", {}))

    def _call(self, operation: Callable[[], T]) -> T:
        """Every SQS failure becomes QueueUnavailable (503); the cause keeps the AWS error code."""
        try:
            return operation()
        except ClientError as exc:
            raise QueueUnavailable(f"sqs request on {self.name!r} failed: {error_code(exc)}") from exc
        except BotoCoreError as exc:
            raise QueueUnavailable(f"sqs unreachable for {self.name!r}: {type(exc).__name__}") from exc


def _message(entry: dict[str, Any]) -> Message:
    """An SQS ReceiveMessage entry as the protocol's Message."""
    system = entry.get("Attributes", {})
    attributes = {
        key: value["StringValue"]
        for key, value in entry.get("MessageAttributes", {}).items()
        if "StringValue" in value
    }
    return Message(
        message_id=entry["MessageId"],
        receipt_handle=entry["ReceiptHandle"],
        body=entry["Body"],
        receive_count=int(system.get("ApproximateReceiveCount", 1)),
        sent_timestamp_ms=int(system.get("SentTimestamp", 0)),
        message_attributes=attributes,
    )


def create_queue(
    sqs_client: Any, name: str, *, visibility_timeout: float, max_receive_count: int | None
) -> str:
    """Create `name` (and `<name>-dlq` with a redrive policy unless max_receive_count is None); returns the URL."""
    attributes = {"VisibilityTimeout": str(_seconds(visibility_timeout))}
    if max_receive_count is not None:
        dlq_url = sqs_client.create_queue(
            QueueName=name + DLQ_SUFFIX, Attributes={"MessageRetentionPeriod": str(DLQ_RETENTION_SECONDS)}
        )["QueueUrl"]
        dlq_arn = sqs_client.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        policy = {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": str(max_receive_count)}
        attributes["RedrivePolicy"] = json.dumps(policy)
    return sqs_client.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
