"""live streams: scheduled_start and expected_viewers (pre-scaling for announced events)

Revision ID: 0009_live_schedule
Revises: 0008_ladder_mode
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_live_schedule"
down_revision = "0008_ladder_mode"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.add_column(sa.Column("scheduled_start", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("expected_viewers", sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.drop_column("expected_viewers")
        batch.drop_column("scheduled_start")
