"""live streams: srt_passphrase, a secret of its own (the streamid carries the key in the clear)

Revision ID: 0011_live_srt_passphrase
Revises: 0010_simulcast_targets
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0011_live_srt_passphrase"
down_revision = "0010_simulcast_targets"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.add_column(sa.Column("srt_passphrase", sa.String(64), nullable=True))
    streams = sa.table("live_streams", sa.column("id", sa.String), sa.column("srt_passphrase", sa.String))
    connection = op.get_bind()
    for (stream_id,) in connection.execute(sa.select(streams.c.id)).all():
        connection.execute(streams.update().where(streams.c.id == stream_id)
                           .values(srt_passphrase=secrets.token_urlsafe(24)))  # fmt: skip


def downgrade() -> None:
    with op.batch_alter_table("live_streams") as batch:
        batch.drop_column("srt_passphrase")
