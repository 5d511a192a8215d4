"""platform v1: the transactional outbox (events written with the change that emits them, one delivery per subscriber)

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-08 00:40:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0011'
down_revision: str | None = '0010'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'platform_events',
        sa.Column('id', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Text(), nullable=False),
        sa.Column('topic', sa.Text(), nullable=False),
        sa.Column('subject_type', sa.Text(), nullable=False),
        sa.Column('subject_id', sa.Text(), nullable=False),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('correlation_id', sa.Text(), nullable=True),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['workspace_id'], ['platform_workspaces.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_platform_events_occurred', 'platform_events',
                    ['workspace_id', sa.text('occurred_at DESC'), sa.text('id DESC')])
    op.create_index('ix_platform_events_subject', 'platform_events', ['workspace_id', 'subject_id'])
    op.create_index('ix_platform_events_failed', 'platform_events', ['workspace_id'],
                    postgresql_where=sa.text("status = 'failed'"))
    op.create_table(
        'platform_event_deliveries',
        sa.Column('event_id', sa.Text(), nullable=False),
        sa.Column('subscriber', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Text(), nullable=False),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('attempts', sa.Integer(), nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('last_error', sa.Text(), nullable=True),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.ForeignKeyConstraint(['event_id'], ['platform_events.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('event_id', 'subscriber'),
    )
    op.create_index('ix_platform_event_deliveries_due', 'platform_event_deliveries', ['next_attempt_at'],
                    postgresql_where=sa.text("status = 'pending'"))


def downgrade() -> None:
    op.drop_index('ix_platform_event_deliveries_due', table_name='platform_event_deliveries',
                  postgresql_where=sa.text("status = 'pending'"))
    op.drop_table('platform_event_deliveries')
    op.drop_index('ix_platform_events_failed', table_name='platform_events',
                  postgresql_where=sa.text("status = 'failed'"))
    op.drop_index('ix_platform_events_subject', table_name='platform_events')
    op.drop_index('ix_platform_events_occurred', table_name='platform_events')
    op.drop_table('platform_events')
