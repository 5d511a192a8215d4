"""platform v1: workflow executions, artifacts (bytes in Postgres), the agent registry, signed webhook deliveries

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 00:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = '0013'
down_revision: str | None = '0012'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    return sa.text('now()')


def upgrade() -> None:
    op.create_table(
        'platform_executions',
        sa.Column('id', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Text(), sa.ForeignKey('platform_workspaces.id'), nullable=False),
        sa.Column('type', sa.Text(), nullable=False),
        sa.Column('job_id', sa.Text(), nullable=True),
        sa.Column('target', sa.Text(), nullable=True),
        sa.Column('agent_id', sa.Text(), nullable=True),
        sa.Column('reasoner', sa.Text(), nullable=True),
        sa.Column('mode', sa.Text(), nullable=True),
        sa.Column('status', sa.Text(), nullable=False),
        sa.Column('failure_code', sa.Text(), nullable=True),
        sa.Column('failure_message', sa.Text(), nullable=True),
        sa.Column('retry_count', sa.Integer(), server_default='0', nullable=False),
        sa.Column('input_artifact_id', sa.Text(), nullable=True),
        sa.Column('output_artifact_id', sa.Text(), nullable=True),
        sa.Column('evidence_artifact_id', sa.Text(), nullable=True),
        sa.Column('duration_ms', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column('started_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('completed_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('created_by', sa.Text(), nullable=True),
        sa.Column('correlation_id', sa.Text(), nullable=True),
        sa.Column('workflow_id', sa.Text(), nullable=True),
        sa.Column('run_id', sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_platform_executions_list', 'platform_executions', ['workspace_id', 'created_at', 'id'])
    op.create_index('ix_platform_executions_status', 'platform_executions', ['workspace_id', 'status'])
    op.create_index('ix_platform_executions_agent', 'platform_executions', ['workspace_id', 'agent_id'])
    op.create_table(
        'platform_artifacts',
        sa.Column('id', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Text(), sa.ForeignKey('platform_workspaces.id'), nullable=False),
        sa.Column('kind', sa.Text(), nullable=False),
        sa.Column('content_type', sa.Text(), nullable=False),
        sa.Column('content', sa.LargeBinary(), nullable=False),
        sa.Column('sha256', sa.Text(), nullable=False),
        sa.Column('size', sa.Integer(), nullable=False),
        sa.Column('execution_id', sa.Text(), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('ix_platform_artifacts_workspace', 'platform_artifacts', ['workspace_id', 'created_at'])
    op.create_table(
        'platform_agents',
        sa.Column('workspace_id', sa.Text(), sa.ForeignKey('platform_workspaces.id'), nullable=False),
        sa.Column('id', sa.Text(), nullable=False),
        sa.Column('base_url', sa.Text(), nullable=False),
        sa.Column('version', sa.Text(), nullable=True),
        sa.Column('reasoners', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('metadata', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('last_heartbeat_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('registered_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column('registered_by', sa.Text(), nullable=True),
        sa.Column('updated_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint('workspace_id', 'id'),
    )
    op.create_table(
        'platform_webhook_deliveries',
        sa.Column('id', sa.Integer(), autoincrement=True, nullable=False),
        sa.Column('source', sa.Text(), nullable=False),
        sa.Column('delivery_id', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Text(), nullable=True),
        sa.Column('subject_id', sa.Text(), nullable=True),
        sa.Column('outcome', sa.Text(), nullable=False),
        sa.Column('received_at', sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('source', 'delivery_id', name='uq_platform_webhook_deliveries'),
    )
    op.create_index('ix_platform_webhook_deliveries_received_at', 'platform_webhook_deliveries', ['received_at'])


def downgrade() -> None:
    op.drop_table('platform_webhook_deliveries')
    op.drop_table('platform_agents')
    op.drop_table('platform_artifacts')
    op.drop_index('ix_platform_executions_agent', table_name='platform_executions')
    op.drop_index('ix_platform_executions_status', table_name='platform_executions')
    op.drop_index('ix_platform_executions_list', table_name='platform_executions')
    op.drop_table('platform_executions')
