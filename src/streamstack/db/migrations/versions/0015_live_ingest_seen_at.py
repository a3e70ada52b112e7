"""live streams: ingest_seen_at, the heartbeat of the ingest holding a publisher (a killed one lets its reconnect in)

Revision ID: 0015_live_ingest_seen_at
Revises: 0014_managed_provisionings
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_live_ingest_seen_at"
down_revision = "0014_managed_provisionings"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.add_column(sa.Column("ingest_seen_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.drop_column("ingest_seen_at")
