"""outbox follow-up: staff mark a message they phoned the person about as done

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-06 09:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from bot.db.base import UTCDateTime

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing undelivered messages stay on the 工作台 until someone marks them.
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.add_column(sa.Column('followed_up_at', UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('followed_up_by', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox', schema=None) as batch_op:
        batch_op.drop_column('followed_up_by')
        batch_op.drop_column('followed_up_at')
