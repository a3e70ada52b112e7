"""The platform's parts, built once from Settings and handed to every domain function."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from streamstack.autoscaling import NoPrescale, PrescaleScheduler, open_prescaler
from streamstack.db.session import open_catalog
from streamstack.media.encoder import Encoder, open_encoder
from streamstack.media.managed_live import ManagedLive, open_managed_live
from streamstack.observability import metrics
from streamstack.queue.base import Queue
from streamstack.secrets import EnvSecrets, SecretsProvider, open_secrets, settings_with_secrets
from streamstack.settings import Settings
from streamstack.storage.base import ObjectInfo, ObjectStore
from streamstack.storage.events import s3_object_created_event
from streamstack.storage.keys import asset_id_from_source_key


@dataclass
class Platform:
    settings: Settings
    engine: Engine
    sessions: sessionmaker[Session]
    store: ObjectStore
    queues: dict[str, Queue] = field(default_factory=dict)
    secrets: SecretsProvider = field(default_factory=EnvSecrets)
    encoder: Encoder | None = None
    prescaler: PrescaleScheduler = field(default_factory=NoPrescale)
    managed_live: ManagedLive | None = None  # live_encoder=medialive: one MediaLive channel per stream

    @property
    def encode_queue(self) -> Queue:
        return self.queues["encode"]

    @property
    def events_queue(self) -> Queue:
        return self.queues["events"]

    def close(self) -> None:
        self.engine.dispose()
        for queue in self.queues.values():
            close = getattr(queue, "close", None)
            if close:
                close()


def build_platform(settings: Settings, *, with_queues: bool = True) -> Platform:
    """The one composition root (API, worker, edge, Lambdas): catalog, store, queues and encoders from Settings.

    The local store notifies like an S3 bucket does. The edge passes with_queues=False: it reads the catalog
    and the store only, so it starts without a queue backend (and without an encoder).
    """
    from streamstack.queue.factory import open_queue
    from streamstack.storage.factory import open_store

    secrets = open_secrets(settings)
    settings = settings_with_secrets(settings, secrets)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine, sessions = open_catalog(settings)
    if not with_queues:
        return Platform(settings=settings, engine=engine, sessions=sessions, store=open_store(settings),
                        secrets=secrets)
    queues = {
        "encode": open_queue(settings, settings.encode_queue),
        "events": open_queue(settings, settings.events_queue),
    }

    def notify_source_created(key: str, info: ObjectInfo) -> None:
        if asset_id_from_source_key(key) is not None:
            event = s3_object_created_event(settings.s3_bucket, info, region=settings.aws_region)
            queues["encode"].send(json.dumps(event))
            metrics.record_encoding_state("queued")

    store = open_store(settings, on_created=notify_source_created)
    encoder = open_encoder(settings, store=store, events_queue=queues["events"])
    return Platform(settings=settings, engine=engine, sessions=sessions, store=store, queues=queues, secrets=secrets,
                    encoder=encoder, prescaler=open_prescaler(settings), managed_live=open_managed_live(settings))
