"""A job's execution record, as its workflow writes it: ``queued`` with the job's fields (or moved back by a
retry's run), then its one ending with its result, evidence and ``workflow.completed`` event.

Postgres decides every race: the ``WHERE`` of each move is ``TRANSITIONS``'s, a job id names one execution
(``uq_platform_executions_job``), and a workspace has at most one accounting sync queued or running
(``uq_platform_executions_active_sync``): a second one's insert, or a retry's move back to ``queued``,
is refused as ``SyncInProgress``.
"""

from __future__ import annotations

import json

from sqlalchemy import update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.stores.platform_executions import TransitionRefused, put_artifact, write_completed_event
from models.common.base import iso_z
from models.platform_v1.engine_tables import ExecutionRow
from models.platform_v1.executions import ExecutionStatus, statuses_moving_to
from models.platform_v1.job_io import JobEndedWrite, JobQueuedWrite
from models.platform_v1.workflow_io import FAILURE_MESSAGE_MAX

ACTIVE_SYNC_INDEX = "uq_platform_executions_active_sync"


class SyncInProgress(Exception):
    """Another accounting sync of the workspace is queued or running."""


def _cleared() -> dict[str, object]:
    """What a retry clears (the job's ``errorCode``, ``errorMessage``, times, result and ``artifactUrl`` too)."""
    return {"failure_code": None, "failure_message": None, "output_artifact_id": None, "evidence_artifact_id": None,
            "duration_ms": None, "started_at": None, "completed_at": None, "result": None}


def _is_active_sync_refusal(error: IntegrityError) -> bool:
    return ACTIVE_SYNC_INDEX in str(error.orig)


async def record_job_queued(session: AsyncSession, write: JobQueuedWrite) -> ExecutionRow:
    """The job's execution recorded ``queued`` by this run; ``TransitionRefused`` when another run holds it,
    ``SyncInProgress`` when another sync of the workspace is queued or running. The caller's transaction is
    left to roll back on a refusal."""
    run = write.run
    try:
        if run.retry_count == 0:
            await session.exec(insert(ExecutionRow).values(
                id=run.execution_id, workspace_id=run.workspace_id, type=run.type, job_id=run.job_id,
                resource=run.resource, params=run.params, status=ExecutionStatus.QUEUED, retry_count=0,
                input_artifact_id=run.input_artifact_id, created_by=run.created_by, correlation_id=run.correlation_id,
                workflow_id=write.workflow_id, run_id=write.run_id,
            ).on_conflict_do_nothing(index_elements=["id"]))
        else:
            await session.exec(update(ExecutionRow).where(
                col(ExecutionRow.id) == run.execution_id,
                col(ExecutionRow.status).in_(statuses_moving_to(ExecutionStatus.QUEUED)),
                col(ExecutionRow.retry_count) == run.retry_count - 1,
            ).values(status=ExecutionStatus.QUEUED, retry_count=run.retry_count, run_id=write.run_id,
                     workflow_id=write.workflow_id, **_cleared()))
    except IntegrityError as error:
        if _is_active_sync_refusal(error):
            raise SyncInProgress() from None
        raise
    row = await session.get(ExecutionRow, run.execution_id, populate_existing=True)
    if row is None or row.run_id != write.run_id:
        raise TransitionRefused(row.status if row is not None else None)
    return row


def job_evidence(write: JobEndedWrite) -> bytes:
    """The evidence of a job's run: its adapter tries (a sync's), its Temporal run; no records, no payload."""
    evidence = {
        "executionId": write.execution_id, "type": write.type,
        "attempts": [{"attempt": a.attempt, "startedAt": iso_z(a.started_at), "durationMs": a.duration_ms,
                      "httpStatus": a.http_status, "error": a.error} for a in write.attempts],
        "temporal": {"workflowId": write.workflow_id, "runId": write.run_id},
    }
    return json.dumps(evidence, separators=(",", ":")).encode()


async def record_job_ended(session: AsyncSession, write: JobEndedWrite, evidence_artifact_id: str) -> bool:
    """End the job's execution (this run's, still going) with its result, evidence and ``workflow.completed``
    event; ``False`` when it had ended already (nothing is written twice)."""
    message = write.error_message[:FAILURE_MESSAGE_MAX] if write.error_message else None
    ended = (await session.exec(update(ExecutionRow).where(
        col(ExecutionRow.id) == write.execution_id, col(ExecutionRow.run_id) == write.run_id,
        col(ExecutionRow.status).in_(statuses_moving_to(ExecutionStatus(write.status))),
    ).values(status=write.status, failure_code=write.error_code, failure_message=message, result=write.result,
             output_artifact_id=write.output_artifact_id, evidence_artifact_id=evidence_artifact_id,
             duration_ms=write.duration_ms, completed_at=write.completed_at,
             ).returning(ExecutionRow.id))).first()
    if ended is None:
        return False
    await put_artifact(session, artifact_id=evidence_artifact_id, workspace_id=write.workspace_id, kind="evidence",
                       content=job_evidence(write), execution_id=write.execution_id)
    row = await session.get(ExecutionRow, write.execution_id, populate_existing=True)
    assert row is not None
    await write_completed_event(session, row)
    return True
