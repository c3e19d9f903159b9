"""signup erasure: member link may be removed, pending erasure flag

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25 10:00:00
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.base


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('signup', schema=None) as batch_op:
        batch_op.add_column(sa.Column('erase_requested_at', bot.db.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.alter_column('member_id', existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    op.execute("DELETE FROM signup WHERE member_id IS NULL")  # erased rows cannot be linked again
    with op.batch_alter_table('signup', schema=None) as batch_op:
        batch_op.alter_column('member_id', existing_type=sa.Integer(), nullable=False)
        batch_op.drop_column('erase_requested_at')
