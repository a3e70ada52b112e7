"""managed provisionings: a managed live stream's create under way, and the AWS ids it has made so far

Revision ID: 0014_managed_provisionings
Revises: 0013_live_last_refusal
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_managed_provisionings"
down_revision = "0013_live_last_refusal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "managed_provisionings",
        sa.Column("live_stream_id", sa.String(length=40), nullable=False),
        sa.Column("input_id", sa.String(length=64), nullable=True),
        sa.Column("channel_id", sa.String(length=64), nullable=True),
        sa.Column("abandoned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("live_stream_id", name=op.f("pk_managed_provisionings")),
    )


def downgrade() -> None:
    op.drop_table("managed_provisionings")
