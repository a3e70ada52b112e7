"""assets count their encode attempts (a retry says so instead of restarting progress at 0)

Revision ID: 0005_encode_attempts
Revises: 0004_text_tracks
Create Date: 2026-11-30 15:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = '0005_encode_attempts'
down_revision = '0004_text_tracks'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('assets') as batch_op:
        batch_op.add_column(sa.Column('encode_attempts', sa.Integer(), server_default='0', nullable=False))


def downgrade() -> None:
    with op.batch_alter_table('assets') as batch_op:
        batch_op.drop_column('encode_attempts')
