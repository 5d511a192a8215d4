"""platform v1: the edge agent's enrollment tokens (hashed; one current per workspace, the previous one in its grace period)

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-08 00:45:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0015'
down_revision: str | None = '0014'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        'platform_enrollment_tokens',
        sa.Column('id', sa.Text(), nullable=False),
        sa.Column('workspace_id', sa.Text(), nullable=False),
        sa.Column('token_hash', sa.Text(), nullable=False),
        sa.Column('token_hint', sa.Text(), nullable=False),
        sa.Column('issued_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('issued_by', sa.Text(), nullable=False),
        sa.Column('correlation_id', sa.Text(), nullable=True),
        sa.Column('valid_until', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['workspace_id'], ['platform_workspaces.id']),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index('uq_platform_enrollment_tokens_current', 'platform_enrollment_tokens', ['workspace_id'],
                    unique=True, postgresql_where=sa.text('valid_until IS NULL'))
    op.create_index('ix_platform_enrollment_tokens_issued', 'platform_enrollment_tokens',
                    ['workspace_id', sa.text('issued_at DESC')])


def downgrade() -> None:
    op.drop_index('ix_platform_enrollment_tokens_issued', table_name='platform_enrollment_tokens')
    op.drop_index('uq_platform_enrollment_tokens_current', table_name='platform_enrollment_tokens')
    op.drop_table('platform_enrollment_tokens')
