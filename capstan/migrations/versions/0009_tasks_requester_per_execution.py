"""tasks: each execution records who asked for it (its credentials are that user's), and one comment starts at most one run

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07 10:00:00.000000
"""
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0009'
down_revision: str | None = '0008'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column('coding_task_executions', sa.Column('requested_by', sa.Text(), nullable=True))
    op.add_column('coding_task_executions', sa.Column('requester_user_id', sa.BigInteger(), nullable=True))
    # Until now the task kept one requester for all its runs: the best record of each past run's.
    op.execute("UPDATE coding_task_executions AS e SET requested_by = t.requested_by, "
               "requester_user_id = t.requester_user_id FROM coding_tasks AS t WHERE t.id = e.task_id")
    # A comment delivered again under a new delivery id could start a second run: keep the comment on
    # its first run only, so that the index below can be built over what those deliveries left.
    op.execute("UPDATE coding_task_executions AS e SET comment_id = NULL WHERE e.comment_id IS NOT NULL AND "
               "EXISTS (SELECT 1 FROM coding_task_executions AS f WHERE f.comment_id = e.comment_id AND "
               "(f.queued_at, f.id) < (e.queued_at, e.id))")
    op.create_index('uq_coding_task_executions_comment', 'coding_task_executions', ['comment_id'], unique=True,
                    postgresql_where=sa.text('comment_id IS NOT NULL'))


def downgrade() -> None:
    op.drop_index('uq_coding_task_executions_comment', table_name='coding_task_executions',
                  postgresql_where=sa.text('comment_id IS NOT NULL'))
    op.drop_column('coding_task_executions', 'requester_user_id')
    op.drop_column('coding_task_executions', 'requested_by')
