"""community scope: the worker's community, a hardship request's and an activity's organiser

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 06:00:00.000000
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Existing records have no community: the federation's accounts see them (and set one).
    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.add_column(sa.Column('community', sa.String(length=64), nullable=True))

    with op.batch_alter_table('hardship_request', schema=None) as batch_op:
        batch_op.add_column(sa.Column('community', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_hardship_request_community'), ['community'], unique=False)

    with op.batch_alter_table('signup_activity', schema=None) as batch_op:
        batch_op.add_column(sa.Column('community', sa.String(length=64), nullable=True))
        batch_op.create_index(batch_op.f('ix_signup_activity_community'), ['community'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('signup_activity', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_signup_activity_community'))
        batch_op.drop_column('community')

    with op.batch_alter_table('hardship_request', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hardship_request_community'))
        batch_op.drop_column('community')

    with op.batch_alter_table('member', schema=None) as batch_op:
        batch_op.drop_column('community')
