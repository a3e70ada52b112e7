"""S3 event-notification JSON, exactly as S3 delivers ObjectCreated events to SQS."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote_plus, unquote_plus

from streamstack.storage.base import ObjectInfo


def s3_object_created_event(bucket: str, info: ObjectInfo, *, region: str = "us-east-1",
                            event_name: str = "ObjectCreated:Put") -> dict[str, Any]:
    """One-record S3 notification; keys are URL-encoded as S3 does."""
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    return {
        "Records": [
            {
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": region,
                "eventTime": now,
                "eventName": event_name,
                "userIdentity": {"principalId": "streamstack"},
                "requestParameters": {"sourceIPAddress": "127.0.0.1"},
                "responseElements": {},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "streamstack-sources",
                    "bucket": {
                        "name": bucket,
                        "ownerIdentity": {"principalId": "streamstack"},
                        "arn": f"arn:aws:s3:::{bucket}",
                    },
                    "object": {
                        "key": quote_plus(info.key, safe="/"),
                        "size": info.size,
                        "eTag": info.etag,
                        "sequencer": f"{int(info.last_modified * 1e6):016X}",
                    },
                },
            }
        ]
    }


def object_keys_from_event(body: str | dict[str, Any]) -> list[tuple[str, str]]:
    """(bucket, key) of every ObjectCreated record; ignores s3:TestEvent and other event names."""
    event = json.loads(body) if isinstance(body, str) else body
    keys = []
    for record in event.get("Records", []):
        if not str(record.get("eventName", "")).startswith("ObjectCreated:"):
            continue
        s3 = record["s3"]
        keys.append((s3["bucket"]["name"], unquote_plus(s3["object"]["key"])))
    return keys
