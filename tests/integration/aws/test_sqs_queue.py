"""The SQS Queue passes the same contract suite as the SQLite queue, against moto in server mode."""

from __future__ import annotations

import functools
import json

import pytest

from streamstack.aws import client
from streamstack.queue.base import QueueUnavailable
from streamstack.queue.sqs import SqsQueue, create_queue
from streamstack.settings import Settings
from tests.contract.queue_contract import MAX_RECEIVE_COUNT, VISIBILITY_TIMEOUT, QueueContract, QueueFactory
from tests.integration.aws.conftest import unique


class TestSqsQueueContract(QueueContract):
    strict_receipt_handles = False  # moto 5 deletes with any handle a message ever had

    @pytest.fixture
    def queue_factory(self, aws: Settings) -> QueueFactory:
        url = create_queue(client("sqs", aws), unique("contract"), visibility_timeout=VISIBILITY_TIMEOUT,
                           max_receive_count=MAX_RECEIVE_COUNT)
        return functools.partial(SqsQueue, url, endpoint_url=aws.aws_endpoint_url, region=aws.aws_region)


def test_create_queue_sets_the_redrive_policy_to_the_dlq(aws: Settings):
    sqs = client("sqs", aws)
    name = unique("encode")
    url = create_queue(sqs, name, visibility_timeout=900, max_receive_count=5)
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["VisibilityTimeout"] == "900"
    policy = json.loads(attributes["RedrivePolicy"])
    assert int(policy["maxReceiveCount"]) == 5
    assert policy["deadLetterTargetArn"].endswith(f":{name}-dlq")


def test_from_settings_does_not_create_queues_unless_asked(aws: Settings):
    queue = SqsQueue.from_settings(aws, unique("missing"))
    with pytest.raises(QueueUnavailable):
        queue.send("x")
    created = SqsQueue.from_settings(aws, unique("made"), create=True)
    created.send("x")
    assert created.stats().visible == 1
    assert created.dlq_stats().visible == 0
    assert created.arn.endswith(":" + created.name)


def test_giving_back_a_message_no_longer_in_flight_is_harmless(aws: Settings):
    queue = SqsQueue.from_settings(aws, unique("q"), create=True)
    queue.send("x")
    (message,) = queue.receive(wait_seconds=1)
    queue.delete(message.receipt_handle)
    queue.change_visibility(message.receipt_handle, 0)  # no error, and the deleted message does not come back
    assert queue.receive(wait_seconds=1) == []
    assert (queue.stats().visible, queue.stats().in_flight) == (0, 0)
