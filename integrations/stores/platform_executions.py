"""Executions and artifacts of the platform API v1: the queries the API (reads, the input it stores before a
start) and the execution workflow's activities (every status write) both run.

Every status write applies only from the statuses ``models.platform_v1.executions.TRANSITIONS`` allows
(its ``WHERE``), so Postgres decides a race: a retry of a record that is not failed or cancelled changes
nothing, and an execution ends once, whoever tries to end it twice.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.stores.platform_events import append_event
from models.platform_v1.engine_tables import ArtifactRow, ExecutionRow
from models.platform_v1.events import EventTopic, SubjectType
from models.platform_v1.executions import (
    ExecutionStatus,
    ExecutionType,
    statuses_moving_to,
)
from models.platform_v1.workflow_io import FAILURE_MESSAGE_MAX, EndedWrite, QueuedWrite, RunningWrite, SmokeRecord

JSON = "application/json"


class TransitionRefused(Exception):
    """The record is not in a status the write may move it from."""

    def __init__(self, current: str | None) -> None:
        super().__init__(f"the execution is {current}")
        self.current = current


async def put_artifact(session: AsyncSession, *, artifact_id: str, workspace_id: str, kind: str, content: bytes,
                       content_type: str = JSON, execution_id: str | None = None) -> None:
    """Store ``content`` under ``artifact_id`` (a second write of the same id keeps the first)."""
    await session.exec(insert(ArtifactRow).values(
        id=artifact_id, workspace_id=workspace_id, kind=kind, content_type=content_type, content=content,
        sha256=hashlib.sha256(content).hexdigest(), size=len(content), execution_id=execution_id,
    ).on_conflict_do_nothing(index_elements=["id"]))


async def artifact_of(session: AsyncSession, workspace_id: str, artifact_id: str) -> ArtifactRow | None:
    return (await session.exec(select(ArtifactRow).where(ArtifactRow.id == artifact_id,
                                                         ArtifactRow.workspace_id == workspace_id))).first()


async def execution_of(session: AsyncSession, execution_id: str, workspace_id: str | None = None
                       ) -> ExecutionRow | None:
    query = select(ExecutionRow).where(ExecutionRow.id == execution_id)
    if workspace_id is not None:
        query = query.where(ExecutionRow.workspace_id == workspace_id)
    return (await session.exec(query)).first()


async def delete_artifact(session: AsyncSession, artifact_id: str) -> None:
    row = await session.get(ArtifactRow, artifact_id)
    if row is not None:
        await session.delete(row)


def _cleared() -> dict[str, object]:
    """What a retry clears."""
    return {"failure_code": None, "failure_message": None, "output_artifact_id": None, "evidence_artifact_id": None,
            "duration_ms": None, "started_at": None, "completed_at": None}


async def record_queued(session: AsyncSession, write: QueuedWrite) -> ExecutionRow:
    """The execution recorded ``queued`` by this run: inserted by its first run, moved back from ``failed`` or
    ``cancelled`` by a retry's run. Written before (this run's activity tried again) → the row as it is.
    ``TransitionRefused`` when another run holds it."""
    run = write.run
    target = run.target
    if run.retry_count == 0:
        await session.exec(insert(ExecutionRow).values(
            id=run.execution_id, workspace_id=run.workspace_id, type=ExecutionType.AGENT, target=target.name,
            agent_id=target.agent_id, reasoner=target.reasoner, mode=run.mode, status=ExecutionStatus.QUEUED,
            retry_count=0, input_artifact_id=run.input_artifact_id, created_by=run.created_by,
            correlation_id=run.correlation_id, workflow_id=write.workflow_id, run_id=write.run_id,
        ).on_conflict_do_nothing(index_elements=["id"]))
    else:
        await session.exec(update(ExecutionRow).where(
            col(ExecutionRow.id) == run.execution_id,
            col(ExecutionRow.status).in_(statuses_moving_to(ExecutionStatus.QUEUED)),
            col(ExecutionRow.retry_count) == run.retry_count - 1,
        ).values(status=ExecutionStatus.QUEUED, retry_count=run.retry_count, run_id=write.run_id,
                 workflow_id=write.workflow_id, **_cleared()))
    row = await session.get(ExecutionRow, run.execution_id, populate_existing=True)
    if row is None or row.run_id != write.run_id:
        raise TransitionRefused(row.status if row is not None else None)
    return row


async def record_smoke_running(session: AsyncSession, record: SmokeRecord) -> None:
    """A smoke execution's record, ``running`` from the start (its run is its only writer)."""
    run = record.run
    target = run.target
    await session.exec(insert(ExecutionRow).values(
        id=run.execution_id, workspace_id=run.workspace_id, type=ExecutionType.SMOKE,
        target=target.name if target else None, agent_id=target.agent_id if target else None,
        reasoner=target.reasoner if target else None, status=ExecutionStatus.RUNNING, retry_count=0,
        input_artifact_id=run.input_artifact_id, created_by=run.created_by, correlation_id=run.correlation_id,
        workflow_id=record.workflow_id, run_id=record.run_id, started_at=record.started_at,
    ).on_conflict_do_nothing(index_elements=["id"]))


async def record_running(session: AsyncSession, write: RunningWrite) -> bool:
    moved = await session.exec(update(ExecutionRow).where(
        col(ExecutionRow.id) == write.execution_id, col(ExecutionRow.run_id) == write.run_id,
        col(ExecutionRow.status).in_(statuses_moving_to(ExecutionStatus.RUNNING)),
    ).values(status=ExecutionStatus.RUNNING, started_at=write.started_at))
    return bool(moved.rowcount)


async def record_ended(session: AsyncSession, write: EndedWrite, evidence_artifact_id: str,
                       evidence: bytes) -> ExecutionRow | None:
    """End the execution (this run's, still going) with its evidence: the row ended, or ``None`` when it had
    ended already (this write was made before: nothing is written twice)."""
    message = write.failure_message[:FAILURE_MESSAGE_MAX] if write.failure_message else None
    ended = (await session.exec(update(ExecutionRow).where(
        col(ExecutionRow.id) == write.execution_id, col(ExecutionRow.run_id) == write.run_id,
        col(ExecutionRow.status).in_(statuses_moving_to(ExecutionStatus(write.status))),
    ).values(status=write.status, failure_code=write.failure_code, failure_message=message,
             output_artifact_id=write.output_artifact_id, evidence_artifact_id=evidence_artifact_id,
             duration_ms=write.duration_ms, completed_at=write.completed_at,
             ).returning(ExecutionRow.id))).first()
    if ended is None:
        return None
    await put_artifact(session, artifact_id=evidence_artifact_id, workspace_id=write.workspace_id, kind="evidence",
                       content=evidence, execution_id=write.execution_id)
    return await session.get(ExecutionRow, write.execution_id, populate_existing=True)


def duration_ms(started: datetime | None, ended: datetime) -> int:
    return max(0, int((ended - started).total_seconds() * 1000)) if started is not None else 0


async def write_completed_event(session: AsyncSession, row: ExecutionRow) -> str:
    """The one ``workflow.completed`` event of an execution's ending, in the ending's transaction."""
    return await append_event(
        session, workspace_id=row.workspace_id, topic=EventTopic.WORKFLOW_COMPLETED,
        subject_type=SubjectType.EXECUTION, subject_id=row.id, correlation_id=row.correlation_id,
        occurred_at=row.completed_at,
        data={"executionId": row.id, "type": row.type, "target": row.target, "status": row.status,
              "failureCode": row.failure_code, "durationMs": row.duration_ms})
