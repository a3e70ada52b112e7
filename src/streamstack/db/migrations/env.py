"""Alembic environment: runs migrations against the URL the caller configured.

The roll-call below imports every module that declares tables, so `Base.metadata` holds the whole
catalog. Only Alembic needs it, which is why it lives here and no package imports all the domains.
"""

import importlib

from alembic import context
from sqlalchemy import create_engine

from streamstack.db.base import Base

TABLE_MODULES = (
    "streamstack.assets.models",
    "streamstack.db.idempotency",
    "streamstack.keys.models",
    "streamstack.live.models",
    "streamstack.uploads.models",
    "streamstack.webhooks.models",
)
for module in TABLE_MODULES:
    importlib.import_module(module)

config = context.config
target_metadata = Base.metadata


def run_migrations_online() -> None:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError("alembic needs sqlalchemy.url (streamstack.db.session.alembic_config sets it)")
    engine = create_engine(url)
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
        )
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


run_migrations_online()
