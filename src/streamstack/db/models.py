"""Imports every table so Alembic and create_all see the whole catalog."""

from streamstack.assets.models import Asset, PlaybackId, Rendition
from streamstack.db.base import Base
from streamstack.db.idempotency import IdempotencyRecord
from streamstack.keys.models import ApiKey, SigningKey
from streamstack.uploads.models import Upload
from streamstack.webhooks.models import OutboxEvent, WebhookDelivery, WebhookEndpoint

__all__ = [
    "ApiKey", "Asset", "Base", "IdempotencyRecord", "OutboxEvent", "PlaybackId", "Rendition",
    "SigningKey", "Upload", "WebhookDelivery", "WebhookEndpoint",
]
