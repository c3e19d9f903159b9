"""hardship: the masked ID number kept beside the encrypted one, so lists never decrypt

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('hardship_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('id_number_masked', sa.String(length=24), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('hardship_request', schema=None) as batch_op:
        batch_op.drop_column('id_number_masked')
