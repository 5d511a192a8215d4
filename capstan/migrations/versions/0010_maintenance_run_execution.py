"""maintenance: a built-in workspace run records the workflow execution (run id) that last wrote it, so its webUrl names the execution

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07 12:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0010'
down_revision: str | None = '0009'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('maintenance_workspace_runs', sa.Column('workflow_run_id', sa.Text(), nullable=True))


def downgrade() -> None:
    op.drop_column('maintenance_workspace_runs', 'workflow_run_id')
