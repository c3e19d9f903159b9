"""inbox threads, FAQ and editable texts

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-05 05:33:44.242191
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import bot.db.base


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('faq_entry',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('keywords', sa.JSON(), nullable=False),
    sa.Column('answer', sa.Text(), nullable=False),
    sa.Column('link', sa.String(length=500), nullable=False),
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('to_inbox', sa.Boolean(), nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('priority', sa.Integer(), nullable=False),
    sa.Column('hits', sa.Integer(), nullable=False),
    sa.Column('last_hit_at', bot.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('created_at', bot.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_faq_entry'))
    )
    op.create_table('inbox_snippet',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('title', sa.String(length=64), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('created_at', bot.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_at', bot.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_snippet'))
    )
    op.create_table('inbox_thread',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('member_id', sa.Integer(), nullable=True),
    sa.Column('openid', sa.String(length=64), nullable=False),
    sa.Column('topic', sa.String(length=32), nullable=False),
    sa.Column('subject', sa.String(length=200), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('waiting', sa.Boolean(), nullable=False),
    sa.Column('waiting_since', bot.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('unread', sa.Integer(), nullable=False),
    sa.Column('assigned_to', sa.Integer(), nullable=True),
    sa.Column('created_at', bot.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_message_at', bot.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('closed_at', bot.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('closed_by', sa.String(length=16), nullable=True),
    sa.ForeignKeyConstraint(['assigned_to'], ['staff.id'], name=op.f('fk_inbox_thread_assigned_to_staff')),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name=op.f('fk_inbox_thread_member_id_member'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_thread'))
    )
    with op.batch_alter_table('inbox_thread', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_thread_member_status', ['openid', 'status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_thread_openid'), ['openid'], unique=False)
        batch_op.create_index('ix_inbox_thread_status_last', ['status', 'last_message_at'], unique=False)

    op.create_table('site_text',
    sa.Column('key', sa.String(length=64), nullable=False),
    sa.Column('value', sa.JSON(), nullable=False),
    sa.Column('updated_at', bot.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('updated_by', sa.Integer(), nullable=True),
    sa.ForeignKeyConstraint(['updated_by'], ['staff.id'], name=op.f('fk_site_text_updated_by_staff')),
    sa.PrimaryKeyConstraint('key', name=op.f('pk_site_text'))
    )
    op.create_table('inbox_message',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('thread_id', sa.Integer(), nullable=False),
    sa.Column('at', bot.db.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('sender', sa.String(length=16), nullable=False),
    sa.Column('staff_id', sa.Integer(), nullable=True),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('text', sa.Text(), nullable=False),
    sa.Column('source_key', sa.String(length=160), nullable=True),
    sa.Column('outbox_key', sa.String(length=200), nullable=True),
    sa.Column('media_id', sa.String(length=200), nullable=False),
    sa.Column('media_status', sa.String(length=16), nullable=False),
    sa.Column('path', sa.String(length=300), nullable=True),
    sa.Column('content_type', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('error', sa.Text(), nullable=False),
    sa.Column('fetched_at', bot.db.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['staff_id'], ['staff.id'], name=op.f('fk_inbox_message_staff_id_staff')),
    sa.ForeignKeyConstraint(['thread_id'], ['inbox_thread.id'], name=op.f('fk_inbox_message_thread_id_inbox_thread'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_inbox_message')),
    sa.UniqueConstraint('source_key', name=op.f('uq_inbox_message_source_key'))
    )
    with op.batch_alter_table('inbox_message', schema=None) as batch_op:
        batch_op.create_index('ix_inbox_message_media_status', ['media_status'], unique=False)
        batch_op.create_index(batch_op.f('ix_inbox_message_thread_id'), ['thread_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('inbox_message', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_inbox_message_thread_id'))
        batch_op.drop_index('ix_inbox_message_media_status')

    op.drop_table('inbox_message')
    op.drop_table('site_text')
    with op.batch_alter_table('inbox_thread', schema=None) as batch_op:
        batch_op.drop_index('ix_inbox_thread_status_last')
        batch_op.drop_index(batch_op.f('ix_inbox_thread_openid'))
        batch_op.drop_index('ix_inbox_thread_member_status')

    op.drop_table('inbox_thread')
    op.drop_table('inbox_snippet')
    op.drop_table('faq_entry')
