"""simulcast targets: RTMP(S) destinations a live stream is restreamed to

Revision ID: 0010_simulcast_targets
Revises: 0009_live_schedule
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_simulcast_targets"
down_revision = "0009_live_schedule"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "simulcast_targets",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("live_stream_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("stream_key", sa.String(length=255), nullable=True),
        sa.Column("passthrough", sa.String(length=255), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_simulcast_targets")),
    )
    with op.batch_alter_table("simulcast_targets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_simulcast_targets_live_stream_id"), ["live_stream_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("simulcast_targets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_simulcast_targets_live_stream_id"))
    op.drop_table("simulcast_targets")
