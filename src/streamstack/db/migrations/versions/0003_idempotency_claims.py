"""idempotency claims: a key is claimed (no response yet) before the work is done

Revision ID: 0003_idempotency_claims
Revises: 0002_asset_meta
"""

import sqlalchemy as sa
from alembic import op

revision = "0003_idempotency_claims"
down_revision = "0002_asset_meta"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("idempotency_records") as batch:
        batch.alter_column("status_code", existing_type=sa.Integer(), nullable=True)
        batch.alter_column("body", existing_type=sa.JSON(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM idempotency_records WHERE status_code IS NULL")
    with op.batch_alter_table("idempotency_records") as batch:
        batch.alter_column("body", existing_type=sa.JSON(), nullable=False)
        batch.alter_column("status_code", existing_type=sa.Integer(), nullable=False)
