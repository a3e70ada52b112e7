"""Queues with SQS semantics: the Queue protocol and its adapters."""

from streamstack.queue.base import Message, Queue, QueueStats, QueueUnavailable, to_sqs_record

__all__ = ["Message", "Queue", "QueueStats", "QueueUnavailable", "to_sqs_record"]
