"""platform v1: the ingest (batches, and each accepted event id per workspace under a unique key)

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-08 00:50:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0012'
down_revision: str | None = '0011'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'platform_ingest_batches',
        sa.Column('id', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Text(), nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('received', sa.Integer(), nullable=False),
        sa.Column('accepted', sa.Integer(), nullable=False),
        sa.Column('duplicates', sa.Integer(), nullable=False),
        sa.Column('by_type', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('created_by', sa.Text(), nullable=True),
        sa.Column('correlation_id', sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(['workspace_id'], ['platform_workspaces.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_platform_ingest_batches_created', 'platform_ingest_batches',
                    ['workspace_id', sa.text('created_at DESC'), sa.text('id DESC')],
                    postgresql_include=['source', 'accepted', 'duplicates'])
    op.create_index('ix_platform_ingest_batches_source', 'platform_ingest_batches',
                    ['workspace_id', 'source', sa.text('created_at DESC')])
    op.create_table(
        'platform_ingest_events',
        sa.Column('workspace_id', sa.Text(), nullable=False),
        sa.Column('event_id', sa.Text(), nullable=False),
        sa.Column('batch_id', sa.Text(), nullable=False),
        sa.Column('type', sa.Text(), nullable=False),
        sa.Column('occurred_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('data', postgresql.JSONB(astext_type=sa.Text()), nullable=True),
        sa.ForeignKeyConstraint(['workspace_id'], ['platform_workspaces.id']),
        sa.ForeignKeyConstraint(['batch_id'], ['platform_ingest_batches.id'], deferrable=True,
                                initially='DEFERRED'),
        sa.PrimaryKeyConstraint('workspace_id', 'event_id', name='pk_platform_ingest_events'),
    )
    op.create_index('ix_platform_ingest_events_batch', 'platform_ingest_events', ['batch_id'])


def downgrade() -> None:
    op.drop_index('ix_platform_ingest_events_batch', table_name='platform_ingest_events')
    op.drop_table('platform_ingest_events')
    op.drop_index('ix_platform_ingest_batches_source', table_name='platform_ingest_batches')
    op.drop_index('ix_platform_ingest_batches_created', table_name='platform_ingest_batches')
    op.drop_table('platform_ingest_batches')
