"""asset ladder mode: fixed or auto (content-aware)

Revision ID: 0008_ladder_mode
Revises: 0007_live_streams
"""

import sqlalchemy as sa
from alembic import op

revision = "0008_ladder_mode"
down_revision = "0007_live_streams"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("ladder", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("ladder")
