"""Shapes of the messages the platform puts on its queues, and how a handler tells them apart."""

from __future__ import annotations

import json
from typing import Any

IMPORT_TYPE = "streamstack:asset.import"
MEDIACONVERT_DETAIL_TYPE = "MediaConvert Job State Change"


def import_message(asset_id: str, url: str) -> dict[str, Any]:
    return {"type": IMPORT_TYPE, "asset_id": asset_id, "url": url}


def message_kind(body: dict[str, Any]) -> str:
    """s3 (ObjectCreated notification), s3-test, import, mediaconvert, or unknown."""
    if body.get("Event") == "s3:TestEvent":
        return "s3-test"
    records = body.get("Records")
    if isinstance(records, list) and records and records[0].get("eventSource") == "aws:s3":
        return "s3"
    if body.get("type") == IMPORT_TYPE:
        return "import"
    if body.get("detail-type") == MEDIACONVERT_DETAIL_TYPE:
        return "mediaconvert"
    return "unknown"


def parse_body(raw: str) -> dict[str, Any]:
    value = json.loads(raw)
    if not isinstance(value, dict):
        raise ValueError("message body is not a JSON object")
    return value
