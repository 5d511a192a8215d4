"""platform v1 jobs: a job's fields on its execution, one accounting sync at a time, the payments a sync applied

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 01:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0014'
down_revision: str | None = '0013'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('platform_executions', sa.Column('resource', sa.Text(), nullable=True))
    op.add_column('platform_executions', sa.Column('params', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.add_column('platform_executions', sa.Column('result', postgresql.JSONB(astext_type=sa.Text()), nullable=True))
    op.create_index('uq_platform_executions_job', 'platform_executions', ['job_id'], unique=True,
                    postgresql_where=sa.text('job_id IS NOT NULL'))
    op.create_index('uq_platform_executions_active_sync', 'platform_executions', ['workspace_id'], unique=True,
                    postgresql_where=sa.text("type = 'accounting_sync' AND status IN ('queued', 'running')"))
    op.create_table(
        'platform_accounting_payments',
        sa.Column('workspace_id', sa.Text(), nullable=False),
        sa.Column('invoice_id', sa.Text(), nullable=False),
        sa.Column('external_id', sa.Text(), nullable=False),
        sa.Column('payment_id', sa.Text(), nullable=False),
        sa.Column('execution_id', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=sa.text('now()'), nullable=False),
        sa.PrimaryKeyConstraint('workspace_id', 'invoice_id', 'external_id'),
    )


def downgrade() -> None:
    op.drop_table('platform_accounting_payments')
    op.drop_index('uq_platform_executions_active_sync', table_name='platform_executions')
    op.drop_index('uq_platform_executions_job', table_name='platform_executions')
    op.drop_column('platform_executions', 'result')
    op.drop_column('platform_executions', 'params')
    op.drop_column('platform_executions', 'resource')
