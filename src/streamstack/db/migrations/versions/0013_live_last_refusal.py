"""live streams: last_refusal, why the last publisher with a valid key was refused (it sent no video)

Revision ID: 0013_live_last_refusal
Revises: 0012_live_managed
"""

import sqlalchemy as sa
from alembic import op

revision = "0013_live_last_refusal"
down_revision = "0012_live_managed"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.add_column(sa.Column("last_refusal", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.drop_column("last_refusal")
