"""One function per event type; SQS batch handlers (batchItemFailures) shared by the worker and Lambda."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import httpx
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from streamstack.assets import service as assets
from streamstack.assets.imports import stream_url
from streamstack.db.session import session_scope
from streamstack.events.encoding import run_encode_job
from streamstack.events.messages import message_kind, parse_body
from streamstack.observability import metrics
from streamstack.observability.logging import message_context
from streamstack.outbound import UrlRefused
from streamstack.platform import Platform
from streamstack.storage.events import object_keys_from_event
from streamstack.storage.keys import asset_id_from_source_key, source_key

log = logging.getLogger("streamstack.events")

RecordHandler = Callable[[SQSRecord], None]


class UnknownMessage(ValueError):
    """A message no handler understands: it fails, is retried, and ends in the dead-letter queue."""


def process_batch(event: dict[str, Any], record_handler: RecordHandler, context: Any = None) -> dict[str, Any]:
    """Powertools' batch processor: each failed record is reported alone in batchItemFailures."""
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    return dict(process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                         context=context))


def instrumented(route: Callable[[dict[str, Any], str], None]) -> RecordHandler:
    """Parses a record once, times it per event type and continues the sender's request id in its logs."""

    def handle(record: SQSRecord) -> None:
        body = parse_body(record.body)
        kind = message_kind(body)
        with metrics.observe_handler(kind), message_context(record.raw_event.get("messageAttributes")):
            route(body, kind)

    return handle


def encode_record_handler(platform: Platform) -> RecordHandler:
    """Handles the encode queue: S3 ObjectCreated notifications and URL imports."""

    def route(body: dict[str, Any], kind: str) -> None:
        if kind == "s3":
            for _bucket, key in object_keys_from_event(body):
                if (asset_id := asset_id_from_source_key(key)) is not None:
                    on_source_uploaded(platform, asset_id=asset_id)
        elif kind == "import":
            on_import_requested(platform, asset_id=body["asset_id"], url=body["url"])
        elif kind != "s3-test":
            raise UnknownMessage(f"encode queue cannot handle a message of kind {kind!r}")

    return instrumented(route)


SERVICE_EVENT_KINDS = frozenset({"mediaconvert", "medialive", "mediapackage"})


def events_record_handler(platform: Platform) -> RecordHandler:
    """Handles the events queue: MediaConvert-style job state changes, MediaLive and MediaPackage v2 events."""

    def route(body: dict[str, Any], kind: str) -> None:
        on_service_event(platform, body, kind)

    return instrumented(route)


def on_service_event(platform: Platform, body: dict[str, Any], kind: str) -> None:
    """One EventBridge event on the events queue, by the service that sent it."""
    from streamstack.live import managed

    if kind == "mediaconvert":
        on_encoding_event(platform, body)
    elif kind == "medialive":
        managed.apply_medialive_event(platform, body)
    elif kind == "mediapackage":
        managed.apply_harvest_event(platform, body)
    else:
        raise UnknownMessage(f"events queue cannot handle a message of kind {kind!r}")


def on_source_uploaded(platform: Platform, *, asset_id: str) -> None:
    """A source landed: encode it with the platform's encoder, unless the asset is gone or finished (redelivery)."""
    with metrics.observe_handler("encode"):
        run_encode_job(platform, asset_id=asset_id)


def on_import_requested(platform: Platform, *, asset_id: str, url: str) -> None:
    """Fetch an import into sources/, which emits the S3-style event that starts encoding."""
    with session_scope(platform.sessions) as db_session:
        asset = assets.get_asset(db_session=db_session, asset_id=asset_id)
        if asset is None or asset.status != "waiting":
            return
        try:
            info = platform.store.put(source_key(asset_id), stream_url(url, platform.settings))
        except (UrlRefused, httpx.HTTPError) as exc:
            assets.mark_errored(db_session=db_session, asset=asset, reason=f"import failed: {exc}",
                                edge_base_url=platform.settings.edge_base_url)
            return
        assets.mark_preparing(db_session=db_session, asset=asset, source_size=info.size)


def on_encoding_event(platform: Platform, event: dict[str, Any]) -> None:
    from streamstack.events.metadata import process_job_state_change

    process_job_state_change(platform, event)
