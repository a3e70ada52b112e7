"""live streams, and playback ids that belong to a live stream

Revision ID: 0007_live_streams
Revises: 0006_loudness
Create Date: 2026-11-30 16:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007_live_streams"
down_revision = "0006_loudness"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "live_streams",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("stream_key", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("latency_mode", sa.String(length=16), nullable=False),
        sa.Column("reconnect_window", sa.Integer(), nullable=False),
        sa.Column("max_continuous_duration", sa.Integer(), nullable=False),
        sa.Column("test", sa.Boolean(), nullable=False),
        sa.Column("passthrough", sa.String(length=255), nullable=True),
        sa.Column("new_asset_settings", sa.JSON(), nullable=True),
        sa.Column("connected", sa.Boolean(), nullable=False),
        sa.Column("active_asset_id", sa.String(length=40), nullable=True),
        sa.Column("recent_asset_ids", sa.JSON(), nullable=False),
        sa.Column("disconnected_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("session_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("end_requested", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_live_streams")),
        sa.UniqueConstraint("stream_key", name=op.f("uq_live_streams_stream_key")),
    )
    with op.batch_alter_table("live_streams", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_live_streams_status"), ["status"], unique=False)
    with op.batch_alter_table("playback_ids", schema=None) as batch_op:
        batch_op.add_column(sa.Column("live_stream_id", sa.String(length=40), nullable=True))
        batch_op.create_index(batch_op.f("ix_playback_ids_live_stream_id"), ["live_stream_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("playback_ids", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_playback_ids_live_stream_id"))
        batch_op.drop_column("live_stream_id")
    with op.batch_alter_table("live_streams", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_live_streams_status"))
    op.drop_table("live_streams")
