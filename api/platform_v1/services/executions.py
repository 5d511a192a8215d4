"""Workflow executions as the API reads them, and the two actions on one: retry and cancel.

The workflow owns the record (``workflows.platform_v1.agent_execution``): these services read it, and ask
Temporal for a retry (a new run of the execution's workflow id, recorded by that run) or a cancel (Temporal's
cancellation; the run records ``cancelled``). What the status rules forbid is 409 ``invalid_transition`` with
``currentStatus``, decided by ``models.platform_v1.executions``.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from api.common import temporal_calls
from api.common.errors import Conflict, NotFound
from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.platform_v1.caller import Caller
from api.platform_v1.services.agents import agent_target
from api.platform_v1.services.connections import hand_back
from api.platform_v1.services.text_search import any_contains
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue, workflow_ui_url
from models.platform_v1.engine_tables import ExecutionRow
from models.platform_v1.execution_contracts import ExecutionPublic, TemporalRef
from models.platform_v1.executions import ExecutionStatus, ExecutionType, artifact_ref, may_move
from models.platform_v1.workflow_io import (
    INVALID_TRANSITION,
    AgentExecutionInput,
    Registered,
    Registration,
    UpdateName,
    WorkflowName,
)

EXECUTION_SORTS = SortFields(columns={"createdAt": ExecutionRow.created_at, "completedAt": ExecutionRow.completed_at,
                                      "durationMs": ExecutionRow.duration_ms}, default_by="createdAt",
                             default_order=SortOrder.DESC)
#: How long a retry waits for its run to record it.
REGISTER_TIMEOUT_SECONDS = 10.0
#: The text columns ``q`` searches (the answered JSON's values).
SEARCHED = (ExecutionRow.id, ExecutionRow.type, ExecutionRow.target, ExecutionRow.status, ExecutionRow.failure_code,
            ExecutionRow.failure_message, ExecutionRow.created_by, ExecutionRow.correlation_id, ExecutionRow.mode)


class InvalidTransition(Conflict):
    code = "invalid_transition"

    def __init__(self, current: str | None, action: str) -> None:
        super().__init__(f"cannot {action} an execution that is {current}", extra={"currentStatus": current})


def platform_queue(settings: Settings) -> str:
    return surface_task_queue(settings.temporal, WorkerSurfaceName.PLATFORM_V1)


def execution_view(row: ExecutionRow, settings: Settings) -> ExecutionPublic:
    public_url = settings.api.public_url
    temporal = settings.temporal
    ui = workflow_ui_url(temporal.ui_url, temporal.namespace, row.workflow_id, row.run_id) if row.workflow_id else None
    return ExecutionPublic.model_construct(
        id=row.id, workspaceId=row.workspace_id, type=row.type, target=row.target, agentId=row.agent_id,
        reasoner=row.reasoner, mode=row.mode, status=row.status, failureCode=row.failure_code,
        failureMessage=row.failure_message, retryCount=row.retry_count, jobId=row.job_id,
        inputRef=artifact_ref(row.input_artifact_id, public_url), outputRef=artifact_ref(row.output_artifact_id,
                                                                                          public_url),
        evidenceRef=artifact_ref(row.evidence_artifact_id, public_url), durationMs=row.duration_ms,
        createdAt=row.created_at, startedAt=row.started_at, completedAt=row.completed_at, createdBy=row.created_by,
        correlationId=row.correlation_id,
        temporal=TemporalRef.model_construct(workflowId=row.workflow_id, runId=row.run_id, uiUrl=ui))


async def execution_row(db: AsyncSession, caller: Caller, execution_id: str) -> ExecutionRow:
    """The caller's workspace's execution; 404 for another workspace's, a malformed or an unknown id."""
    row = (await db.exec(select(ExecutionRow).where(ExecutionRow.id == execution_id,
                                                    ExecutionRow.workspace_id == caller.tenant))).first()
    if row is None:
        raise NotFound(f"no execution {execution_id}", code="not_found")
    return row


async def execution_page(db: AsyncSession, caller: Caller, settings: Settings, *, limit: int, offset: int,
                         sort: Sort, filters: dict[str, Any], q: str | None) -> ListPage[ExecutionPublic]:
    listed = select(ExecutionRow).where(ExecutionRow.workspace_id == caller.tenant)
    if filters.get("status") is not None:
        listed = listed.where(ExecutionRow.status == filters["status"])
    if filters.get("type") is not None:
        listed = listed.where(ExecutionRow.type == filters["type"])
    if filters.get("agentId") is not None:
        listed = listed.where(ExecutionRow.agent_id == filters["agentId"])
    if q:
        listed = listed.where(any_contains(SEARCHED, q))
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    tiebreak = col(ExecutionRow.id).desc() if sort.order == SortOrder.DESC else col(ExecutionRow.id).asc()
    column = EXECUTION_SORTS.columns[sort.by]
    ordered = listed.order_by(col(column).desc().nulls_last() if sort.order == SortOrder.DESC
                              else col(column).asc().nulls_last()).order_by(tiebreak)
    rows = (await db.exec(ordered.limit(limit).offset(offset))).all()
    return list_page([execution_view(row, settings) for row in rows], limit=limit, offset=offset, total=total,
                     sort=sort, filters={**filters, "q": q})


def _refusal(action: str):
    def refuse(error: Any) -> Exception:
        details = error.details[0] if error.details and isinstance(error.details[0], dict) else {}
        return InvalidTransition(details.get("currentStatus"), action)
    return refuse


async def retry_execution(db: AsyncSession, temporal: Client, settings: Settings, caller: Caller,
                          execution_id: str) -> ExecutionRow:
    """A new run of the execution's workflow, with the same input and ``retryCount`` + 1, recorded ``queued`` by
    that run before this answers (its ``register`` Update, update-with-start)."""
    row = await execution_row(db, caller, execution_id)
    if row.job_id is not None and may_move(row.status, ExecutionStatus.QUEUED):
        # Retrying a job's execution retries the job (its own workflow); imported here, as jobs build on this.
        from api.platform_v1.services.jobs import retry_job_execution
        await hand_back(db)
        return await retry_job_execution(db, temporal, settings, row)
    if not may_move(row.status, ExecutionStatus.QUEUED) or row.type != ExecutionType.AGENT:
        raise InvalidTransition(row.status, "retry")
    assert row.agent_id is not None and row.reasoner is not None and row.input_artifact_id is not None
    target = await agent_target(db, caller.tenant, row.agent_id, row.reasoner, settings)
    await hand_back(db)
    request = uuid.uuid4().hex
    run = AgentExecutionInput(
        execution_id=row.id, workspace_id=row.workspace_id, target=target, mode=row.mode or "async",
        input_artifact_id=row.input_artifact_id, created_by=row.created_by, correlation_id=row.correlation_id,
        retry_count=row.retry_count + 1, max_attempts=settings.platform.agent_call_max_attempts, request=request)
    start = temporal_calls.WorkflowStart(WorkflowName.AGENT_EXECUTION, run, {
        "id": row.workflow_id, "task_queue": platform_queue(settings),
        "id_reuse_policy": WorkflowIDReusePolicy.ALLOW_DUPLICATE})
    await temporal_calls.start_with_update(
        temporal, start, UpdateName.REGISTER, [Registration(request=request)], timeout=REGISTER_TIMEOUT_SECONDS,
        result_type=Registered, refusals={INVALID_TRANSITION: _refusal("retry")})
    return await _reread(db, row.id)


async def cancel_execution(db: AsyncSession, temporal: Client, caller: Caller, execution_id: str) -> ExecutionRow:
    """Temporal's cancellation of the execution's run; the run records ``cancelled`` (within seconds)."""
    row = await execution_row(db, caller, execution_id)
    if not may_move(row.status, ExecutionStatus.CANCELLED) or row.workflow_id is None:
        raise InvalidTransition(row.status, "cancel")
    await hand_back(db)
    if not await temporal_calls.cancel_workflow(temporal, row.workflow_id, row.run_id):
        ended = await _reread(db, row.id)
        raise InvalidTransition(ended.status, "cancel")
    return await _reread(db, row.id)


async def _reread(db: AsyncSession, execution_id: str) -> ExecutionRow:
    row = await db.get(ExecutionRow, execution_id, populate_existing=True)
    assert row is not None, "an execution is never deleted"
    await hand_back(db)
    return row
