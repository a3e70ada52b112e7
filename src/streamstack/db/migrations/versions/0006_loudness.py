"""asset loudness: normalize_audio choice and the measured loudness

Revision ID: 0006_loudness
Revises: 0005_encode_attempts
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_loudness"
down_revision = "0005_encode_attempts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("normalize_audio", sa.Boolean(), nullable=True))
        batch.add_column(sa.Column("loudness", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("loudness")
        batch.drop_column("normalize_audio")
