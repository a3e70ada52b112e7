"""AWS Lambda entry points, fed by SQS event source mappings with ReportBatchItemFailures.

- `on_source_uploaded` (queue `sources`, S3 ObjectCreated notifications): starts an encode, by
  forwarding the notification to the encode queue of the ECS ffmpeg workers or, for a remote encoder
  (MediaConvert), by starting the job here with `platform.encoder`.
- `on_encoding_event` (queue `events`, EventBridge MediaConvert Job State Change, and for
  live_encoder=medialive MediaLive channel alerts and state changes and MediaPackage v2 harvest job
  notifications): runs the metadata processor or the managed-live transitions, as the embedded worker does.

Powertools does the plumbing: the batch processor reports each failed record alone, Logger instruments
every invocation, and the idempotency utility (DynamoDB table
STREAMSTACK_IDEMPOTENCY_TABLE) makes a record delivered twice change nothing. The Platform (catalog,
store, queues) is built on the first invocation and kept for the container's life.
"""

from __future__ import annotations

import json
import logging
import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.idempotency import (
    DynamoDBPersistenceLayer,
    IdempotencyConfig,
    idempotent_function,
)
from aws_lambda_powertools.utilities.typing import LambdaContext

from streamstack.aws import client
from streamstack.events.encoding import run_encode_job
from streamstack.events.handlers import SERVICE_EVENT_KINDS, UnknownMessage, on_service_event, process_batch
from streamstack.events.messages import message_kind, parse_body
from streamstack.observability import setup_process
from streamstack.observability.metrics import lambda_metrics, record_encoding_state, record_lambda_batch
from streamstack.platform import Platform, build_platform
from streamstack.secrets import settings_with_secrets
from streamstack.settings import Settings, get_settings
from streamstack.storage.events import object_keys_from_event
from streamstack.storage.keys import asset_id_from_source_key

IDEMPOTENCY_TABLE_ENV = "STREAMSTACK_IDEMPOTENCY_TABLE"
IDEMPOTENCY_TTL_SECONDS = 24 * 3600  # longer than any redelivery: S3 duplicates and SQS retries come sooner
SERVICE = "streamstack-events"

logger = Logger(service=SERVICE)
log = logging.getLogger("streamstack.events.lambda")


@dataclass
class Runtime:
    """What one container keeps between invocations."""

    platform: Platform
    config: IdempotencyConfig
    start_encode: Callable[..., Any]
    apply_event: Callable[..., Any]


_runtime: Runtime | None = None
_runtime_lock = threading.Lock()


def runtime() -> Runtime:
    """Built on the first invocation (secrets resolved, catalog engine, clients), then reused."""
    global _runtime
    with _runtime_lock:
        if _runtime is None:
            settings = settings_with_secrets(get_settings())
            setup_process(service="lambda", settings=settings)
            _runtime = build_runtime(settings)
        return _runtime


def reset_runtime() -> None:
    """Forget the container's Platform (tests; a new configuration)."""
    global _runtime
    with _runtime_lock:
        if _runtime is not None:
            _runtime.platform.close()
        _runtime = None


def build_runtime(settings: Settings) -> Runtime:
    """The Platform and the idempotent versions of the two handlers, sharing one DynamoDB persistence layer."""
    table = getattr(settings, "idempotency_table", None) or os.environ.get(IDEMPOTENCY_TABLE_ENV)
    if not table:
        raise RuntimeError(f"set {IDEMPOTENCY_TABLE_ENV} to the DynamoDB idempotency table of the handlers")
    store = DynamoDBPersistenceLayer(table_name=table, boto3_client=client("dynamodb", settings))
    config = IdempotencyConfig(expires_after_seconds=IDEMPOTENCY_TTL_SECONDS)
    idempotent = partial(idempotent_function, data_keyword_argument="identity", persistence_store=store,
                         config=config)
    return Runtime(
        platform=build_platform(settings),
        config=config,
        start_encode=idempotent(start_encode, key_prefix="streamstack.on_source_uploaded"),
        apply_event=idempotent(apply_event, key_prefix="streamstack.on_encoding_event"),
    )


# --- the work, wrapped by the idempotency utility ---------------------------------------------------------


def start_encode(*, identity: dict[str, Any], platform: Platform, event: dict[str, Any]) -> None:
    """Start a remote encoder's job per source object, or forward the notification to the ffmpeg workers."""
    asset_ids = [asset_id for bucket, key in object_keys_from_event(event)
                 if bucket == platform.settings.s3_bucket and (asset_id := asset_id_from_source_key(key)) is not None]
    if not asset_ids:
        log.info("notification without sources ignored", extra={"objects": identity["objects"]})
    elif platform.encoder is not None and platform.encoder.remote:
        for asset_id in asset_ids:
            run_encode_job(platform, asset_id=asset_id)
    else:
        platform.encode_queue.send(json.dumps(event))
    for _asset_id in asset_ids:
        record_encoding_state("queued")


def apply_event(*, identity: dict[str, Any], platform: Platform, event: dict[str, Any]) -> None:
    """The metadata processor or the managed-live transitions, exactly as the embedded worker runs them."""
    on_service_event(platform, event, message_kind(event))


# --- record handlers: parse, derive the idempotency identity, call the idempotent work -------------------


def source_record(record: SQSRecord) -> None:
    """One SQS record carrying an S3 notification; s3:TestEvent is acknowledged and dropped."""
    current = runtime()
    body = parse_body(record.body)
    kind = message_kind(body)
    if kind == "s3-test":
        return
    if kind != "s3":
        raise UnknownMessage(f"on_source_uploaded cannot handle a message of kind {kind!r}")
    current.start_encode(identity=s3_identity(body), platform=current.platform, event=body)


def encoding_record(record: SQSRecord) -> None:
    """One SQS record carrying an EventBridge event: MediaConvert Job State Change, MediaLive, MediaPackage v2."""
    current = runtime()
    body = parse_body(record.body)
    if message_kind(body) not in SERVICE_EVENT_KINDS:
        raise UnknownMessage("on_encoding_event expects MediaConvert, MediaLive or MediaPackage v2 events")
    current.apply_event(identity=eventbridge_identity(body), platform=current.platform, event=body)


def s3_identity(event: dict[str, Any]) -> dict[str, Any]:
    """Bucket, key and sequencer of each object: S3 repeats them when it delivers a notification twice."""
    return {"objects": [[r["s3"]["bucket"]["name"], r["s3"]["object"]["key"], r["s3"]["object"].get("sequencer", "")]
                        for r in event.get("Records", [])]}


def eventbridge_identity(event: dict[str, Any]) -> dict[str, Any]:
    """EventBridge keeps an event's id across redeliveries; job id and status make the key readable."""
    detail = event.get("detail") or {}
    return {"id": event.get("id"), "job_id": detail.get("jobId"), "status": detail.get("status") or detail.get("state")}


# --- entry points -------------------------------------------------------------------------------------------


def handle_batch(event: dict[str, Any], context: LambdaContext, record_handler: Callable[[SQSRecord], None],
                 handler: str) -> dict[str, Any]:
    """Run a batch through Powertools' processor; count processed and failed records (EMF, one metrics stack)."""
    runtime().config.register_lambda_context(context)
    result = process_batch(event, record_handler, context)
    failed = len(result.get("batchItemFailures", []))
    record_lambda_batch(handler, processed=len(event.get("Records", [])) - failed, failed=failed)
    return result


@lambda_metrics
@logger.inject_lambda_context(clear_state=True)
def on_source_uploaded(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """S3 ObjectCreated notifications (via SQS) start encodes."""
    return handle_batch(event, context, source_record, "source_uploaded")


@lambda_metrics
@logger.inject_lambda_context(clear_state=True)
def on_encoding_event(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    """MediaConvert, MediaLive and MediaPackage v2 events (via EventBridge and SQS) update the catalog."""
    return handle_batch(event, context, encoding_record, "encoding_event")
