"""The write that accepts a run (``integrations.stores.task_runs.record_enqueue``) on a real Postgres: a
retried write answers its own execution again; an execution of the same id that has moved on (a
comment's id is derived from the comment) is a duplicate; a comment's run is queued when it was
accepted, not when a worker recorded it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from capstan.db import create_session_factory
from integrations.stores.task_runs import DuplicateRequest, record_enqueue
from models.tasks.ids import comment_execution_id
from models.tasks.requests import EnqueueRecord, TaskRequest, TaskSource
from models.tasks.tables import CodingTaskRow, TaskDeliveryRow, TaskExecutionRow

ACCEPTED = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
NOW = ACCEPTED + timedelta(hours=2)  # a worker came two hours later


def _record(accepted_at: datetime | None = ACCEPTED) -> EnqueueRecord:
    request = TaskRequest(repo_owner="acme", repo_name="widgets", issue_number=11, requested_by="alice",
                          requester_user_id=42, source=TaskSource.WEBHOOK, installation_id=7,
                          clone_url="/srv/widgets.git", agent="mock", comment_id=5001)
    return EnqueueRecord(execution_id=comment_execution_id(5001), runner="local", request=request,
                         delivery_id="delivery-1", accepted_at=accepted_at)


@pytest.fixture
def sessions(db_engine, clean_tables):
    return create_session_factory(db_engine)


async def test_a_comments_run_is_queued_when_it_was_accepted(sessions):
    record = _record()
    async with sessions() as session:
        await record_enqueue(session, record, "capstan/x", NOW)
    async with sessions() as session:
        execution = await session.get(TaskExecutionRow, record.execution_id)
        task = await session.get(CodingTaskRow, "acme/widgets#11")
        delivery = await session.get(TaskDeliveryRow, "delivery-1")
    assert execution.queued_at == task.queued_at == delivery.received_at == ACCEPTED
    assert execution.updated_at == task.updated_at == NOW


async def test_a_retried_write_answers_again_and_a_run_that_moved_on_is_a_duplicate(sessions):
    record = _record()
    async with sessions() as session:
        first = await record_enqueue(session, record, "capstan/x", NOW)
    async with sessions() as session:  # the answer of the first try was lost: the write runs again
        assert await record_enqueue(session, record, "capstan/x", NOW) == first
    async with sessions() as session, session.begin():
        execution = await session.get(TaskExecutionRow, record.execution_id)
        execution.status = "success"
        session.add(execution)
    retried = record.model_copy(update={"delivery_id": "delivery-2"})  # the comment's workflow started again
    async with sessions() as session:
        with pytest.raises(DuplicateRequest):
            await record_enqueue(session, retried, "capstan/x", NOW)
