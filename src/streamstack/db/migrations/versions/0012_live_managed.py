"""live streams: managed, the MediaLive input and channel of a stream under live_encoder=medialive

Revision ID: 0012_live_managed
Revises: 0011_live_srt_passphrase
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_live_managed"
down_revision = "0011_live_srt_passphrase"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.add_column(sa.Column("managed", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.drop_column("managed")
