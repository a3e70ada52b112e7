"""How a handler tells the messages on its queues apart; each message is built by its producer."""

from __future__ import annotations

import json
from typing import Any

from streamstack.assets.imports import IMPORT_TYPE
from streamstack.media.job_events import JOB_STATE_CHANGE
from streamstack.media.medialive import HARVEST_JOB_NOTIFICATION

MEDIALIVE_SOURCE = "aws.medialive"
MEDIAPACKAGE_SOURCE = "aws.mediapackagev2"


def message_kind(body: dict[str, Any]) -> str:
    """s3 (ObjectCreated notification), s3-test, import, mediaconvert, medialive, mediapackage, or unknown."""
    if body.get("Event") == "s3:TestEvent":
        return "s3-test"
    records = body.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:s3":
        return "s3"
    if body.get("type") == IMPORT_TYPE:
        return "import"
    if body.get("detail-type") == JOB_STATE_CHANGE:
        return "mediaconvert"
    if body.get("source") == MEDIALIVE_SOURCE:  # any of its events: those without a transition are acknowledged
        return "medialive"
    if body.get("source") == MEDIAPACKAGE_SOURCE and body.get("detail-type") == HARVEST_JOB_NOTIFICATION:
        return "mediapackage"
    return "unknown"


def parse_body(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("message body is not a JSON object")
    return value
