"""protocol runs: the workflow run id of the execution that last wrote the run (its Web UI link names it)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-07 21:30:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0008'
down_revision: str | None = '0007'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('protocol_runs', sa.Column('workflow_run_id', sa.String(length=255), nullable=True))


def downgrade() -> None:
    op.drop_column('protocol_runs', 'workflow_run_id')
