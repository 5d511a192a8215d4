"""Postgres decides what the job routes' reads only anticipate: two syncs of one workspace recorded at once
leave one queued (the partial unique index), and another workspace's is not blocked; an accounting payment is
claimed once per (workspace, invoice, ``externalId``)."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy.dialects.postgresql import insert

from capstan.db import create_session_factory, session_scope
from integrations.stores.platform_jobs import SyncInProgress, record_job_queued
from models.platform_v1.job_io import JobQueuedWrite, JobRunInput
from models.platform_v1.job_tables import AccountingPaymentRow
from models.platform_v1.jobs import JobType
from models.platform_v1.tables import WorkspaceRow


@pytest.fixture
def sessions(db_engine, clean_tables):
    return create_session_factory(db_engine)


async def _workspaces(sessions, *ids: str) -> None:
    async with session_scope(sessions) as session:
        for workspace_id in ids:
            session.add(WorkspaceRow(id=workspace_id, name=workspace_id))


def _sync(workspace_id: str) -> JobQueuedWrite:
    execution_id = f"wex_{uuid.uuid4().hex}"
    run = JobRunInput(execution_id=execution_id, job_id=f"job_{uuid.uuid4().hex}", workspace_id=workspace_id,
                      type=JobType.ACCOUNTING_SYNC, request=execution_id)
    return JobQueuedWrite(run=run, workflow_id=f"wf:{execution_id}", run_id=uuid.uuid4().hex)


async def _record(sessions, write: JobQueuedWrite) -> str:
    try:
        async with session_scope(sessions) as session:
            return (await record_job_queued(session, write)).status
    except SyncInProgress:
        return "sync_in_progress"


async def test_one_sync_per_workspace_is_queued_or_running_whoever_writes_first(sessions):
    await _workspaces(sessions, "ws_a", "ws_b")
    outcomes = await asyncio.gather(*(_record(sessions, _sync("ws_a")) for _ in range(5)))
    assert sorted(outcomes) == ["queued"] + ["sync_in_progress"] * 4
    assert await _record(sessions, _sync("ws_b")) == "queued"


async def test_a_payment_is_claimed_once(sessions):
    await _workspaces(sessions, "ws_a")

    async def claim() -> bool:
        async with session_scope(sessions) as session:
            claimed = (await session.exec(insert(AccountingPaymentRow).values(
                workspace_id="ws_a", invoice_id="inv_1", external_id="ext-1", payment_id="pay_1",
            ).on_conflict_do_nothing().returning(AccountingPaymentRow.external_id))).first()
        return claimed is not None

    assert sorted(await asyncio.gather(*(claim() for _ in range(4)))) == [False, False, False, True]
