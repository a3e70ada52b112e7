"""text tracks

Revision ID: 0004_text_tracks
Revises: 0003_idempotency_claims
"""

import sqlalchemy as sa
from alembic import op

revision = "0004_text_tracks"
down_revision = "0003_idempotency_claims"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tracks",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("asset_id", sa.String(length=40), nullable=False),
        sa.Column("type", sa.String(length=8), nullable=False),
        sa.Column("text_type", sa.String(length=16), nullable=False),
        sa.Column("language_code", sa.String(length=35), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("closed_captions", sa.Boolean(), nullable=False),
        sa.Column("source_format", sa.String(length=8), nullable=False),
        sa.Column("cue_count", sa.Integer(), nullable=False),
        sa.Column("passthrough", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["asset_id"], ["assets.id"], name=op.f("fk_tracks_asset_id_assets"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tracks")),
    )
    op.create_index(op.f("ix_tracks_asset_id"), "tracks", ["asset_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_tracks_asset_id"), table_name="tracks")
    op.drop_table("tracks")
