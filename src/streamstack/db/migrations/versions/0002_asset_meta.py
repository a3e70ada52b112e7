"""asset meta: title, creator_id, external_id

Revision ID: 0002_asset_meta
Revises: 0001
"""

import sqlalchemy as sa
from alembic import op

revision = "0002_asset_meta"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("assets") as batch:
        batch.add_column(sa.Column("title", sa.String(length=512), nullable=True))
        batch.add_column(sa.Column("creator_id", sa.String(length=128), nullable=True))
        batch.add_column(sa.Column("external_id", sa.String(length=128), nullable=True))
    op.create_index(op.f("ix_assets_creator_id"), "assets", ["creator_id"])
    op.create_index(op.f("ix_assets_external_id"), "assets", ["external_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_assets_external_id"), table_name="assets")
    op.drop_index(op.f("ix_assets_creator_id"), table_name="assets")
    with op.batch_alter_table("assets") as batch:
        batch.drop_column("external_id")
        batch.drop_column("creator_id")
        batch.drop_column("title")
