"""Jobs (imports, exports, accounting syncs) as the API reads them, starts them and retries them.

A job is the view of its execution (``platform_executions`` with its ``job_id``), and its workflow owns that
record (``workflows.platform_v1.jobs``): the API refuses what it can before anything is written (a bad
record, a bad filter, no accounting adapter, a sync already queued or running), stores an import's records
as the input artifact, and starts the job's workflow with its ``register`` Update (update-with-start), which
records the job ``queued`` before the 202 answers. Postgres decides whether a sync may start
(``uq_platform_executions_active_sync``): the read before the start only spares a workflow in the common case.

The job's and its execution's ids are derived from the request (workspace, caller, route, ``Idempotency-Key``),
so the same request sent again reaches the same workflow and never makes a second job.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from api.common import temporal_calls
from api.common.errors import ApiError, BadRequest, Conflict, NotFound
from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.platform_v1.caller import Caller
from api.platform_v1.services.connections import hand_back
from api.platform_v1.services.executions import REGISTER_TIMEOUT_SECONDS, InvalidTransition, platform_queue
from api.platform_v1.services.resources import search_terms, validated_body
from api.platform_v1.services.text_search import any_contains
from capstan.settings import Settings
from integrations.stores import platform_executions as store
from integrations.stores.platform_adapter_settings import accounting_adapter
from models.platform_v1.catalog import BY_NAME
from models.platform_v1.engine_tables import ExecutionRow
from models.platform_v1.executions import (
    ARTIFACT_PREFIX,
    EXECUTION_PREFIX,
    ExecutionStatus,
    artifact_ref,
    derived_id,
    execution_workflow_id,
)
from models.platform_v1.job_contracts import ExportBody, ImportBody, JobPublic
from models.platform_v1.job_io import SYNC_IN_PROGRESS, WORKFLOW_OF, JobRunInput
from models.platform_v1.jobs import JOB_PREFIX, JobType
from models.platform_v1.workflow_io import INVALID_TRANSITION, Registered, Registration, UpdateName

JOB_SORTS = SortFields(columns={"queuedAt": ExecutionRow.created_at, "completedAt": ExecutionRow.completed_at},
                       default_by="queuedAt", default_order=SortOrder.DESC)
JOB_TYPES = tuple(str(job_type) for job_type in JobType)
SEARCHED = (ExecutionRow.job_id, ExecutionRow.type, ExecutionRow.resource, ExecutionRow.status,
            ExecutionRow.failure_code, ExecutionRow.failure_message, ExecutionRow.created_by,
            ExecutionRow.correlation_id)


class SyncInProgress(Conflict):
    code = "sync_in_progress"


class AdapterNotConfigured(Conflict):
    code = "adapter_not_configured"


class JobNotRetryable(InvalidTransition):
    """409 ``invalid_transition`` with ``currentStatus``, worded for a job."""

    def __init__(self, current: str | None) -> None:
        super().__init__(current, "retry")
        self.detail = f"only a failed job is retried; this one is {current}"


def job_location(job_id: str) -> str:
    return f"/api/v1/jobs/{job_id}"


def job_view(row: ExecutionRow, settings: Settings) -> JobPublic:
    assert row.job_id is not None, "a job is an execution with a job id"
    succeeded_export = row.type == JobType.EXPORT and row.status == ExecutionStatus.SUCCEEDED
    return JobPublic.model_construct(
        id=row.job_id, workspaceId=row.workspace_id, type=row.type, resource=row.resource, executionId=row.id,
        params={key: value for key, value in (row.params or {}).items()}, status=row.status, result=row.result,
        errorCode=row.failure_code, errorMessage=row.failure_message,
        artifactUrl=artifact_ref(row.output_artifact_id, settings.api.public_url) if succeeded_export else None,
        queuedAt=row.created_at, startedAt=row.started_at, completedAt=row.completed_at, retryCount=row.retry_count,
        createdBy=row.created_by, correlationId=row.correlation_id)


async def job_row(db: AsyncSession, caller: Caller, job_id: str) -> ExecutionRow:
    """The caller's workspace's job; 404 for another workspace's, a malformed or an unknown id."""
    row = (await db.exec(select(ExecutionRow).where(ExecutionRow.job_id == job_id,
                                                    ExecutionRow.workspace_id == caller.tenant))).first()
    if row is None:
        raise NotFound(f"no job {job_id}", code="not_found")
    return row


async def job_page(db: AsyncSession, caller: Caller, settings: Settings, *, limit: int, offset: int, sort: Sort,
                   filters: dict[str, Any], q: str | None) -> ListPage[JobPublic]:
    listed = select(ExecutionRow).where(ExecutionRow.workspace_id == caller.tenant,
                                        col(ExecutionRow.job_id).is_not(None))
    for name, column in (("type", ExecutionRow.type), ("status", ExecutionRow.status),
                         ("resource", ExecutionRow.resource)):
        if filters.get(name) is not None:
            listed = listed.where(column == str(filters[name]))
    if q:
        listed = listed.where(any_contains(SEARCHED, q))
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    column = JOB_SORTS.columns[sort.by]
    desc = sort.order == SortOrder.DESC
    ordered = listed.order_by(col(column).desc().nulls_last() if desc else col(column).asc().nulls_last()) \
        .order_by(col(ExecutionRow.id).desc() if desc else col(ExecutionRow.id).asc())
    rows = (await db.exec(ordered.limit(limit).offset(offset))).all()
    await hand_back(db)
    return list_page([job_view(row, settings) for row in rows], limit=limit, offset=offset, total=total, sort=sort,
                     filters={**filters, "q": q})


def validated_records(resource: str, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Every record as the resource's schema has it, or 400 naming each bad one (``body.records[1].name``)."""
    spec = BY_NAME[resource]
    valid, fields = [], []
    for index, record in enumerate(records):
        try:
            valid.append(validated_body(spec, record))
        except BadRequest as error:
            named = error.extra.get("fields") or [{"field": "body", "message": error.detail, "type": "type_error"}]
            fields += [{**field, "field": f"body.records[{index}]{field['field'].removeprefix('body')}"}
                       for field in named]
    if fields:
        summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
        raise BadRequest(f"invalid {spec.singular} records: {summary}", code="validation_error",
                         extra={"fields": fields})
    return valid


def validated_filters(resource: str, filters: dict[str, str]) -> dict[str, str]:
    spec = BY_NAME[resource]
    unknown = sorted(set(filters) - set(spec.filters))
    if unknown:
        raise BadRequest(f"{resource} are not filtered by {', '.join(unknown)} (filters: {', '.join(spec.filters)})",
                         code="validation_error", extra={"fields": [
                             {"field": f"body.filters.{name}", "message": "not a filter of this resource",
                              "type": "unknown_filter"} for name in unknown]})
    bad = sorted(name for name, value in filters.items() if not value or len(value) > 200 or "\x00" in value)
    if bad:
        raise BadRequest("a filter's value is 1–200 characters", code="validation_error", extra={"fields": [
            {"field": f"body.filters.{name}", "message": "1–200 characters", "type": "value_error"} for name in bad]})
    return filters


async def _start(db: AsyncSession, temporal: Client, settings: Settings, caller: Caller, key: str, job_type: JobType,
                 *, resource: str | None = None, params: dict[str, Any], records: list[dict[str, Any]] | None = None,
                 search: str | None = None) -> ExecutionRow:
    execution_id = derived_id(EXECUTION_PREFIX, caller.tenant, caller.actor, f"job:{job_type}", key)
    job_id = derived_id(JOB_PREFIX, execution_id)
    input_id = None
    if records is not None:
        input_id = derived_id(ARTIFACT_PREFIX, execution_id, "input")
        await store.put_artifact(db, artifact_id=input_id, workspace_id=caller.tenant, kind="import",
                                 content=json.dumps(records, separators=(",", ":")).encode(), execution_id=execution_id)
        await db.commit()
    await hand_back(db)
    queue = platform_queue(settings)
    run = JobRunInput(execution_id=execution_id, job_id=job_id, workspace_id=caller.tenant, type=job_type,
                      resource=resource, params=params, input_artifact_id=input_id, search=search,
                      created_by=caller.actor, correlation_id=caller.correlation_id,
                      max_attempts=settings.platform.adapter_max_attempts, request=execution_id)
    start = temporal_calls.WorkflowStart(WORKFLOW_OF[job_type], run, {
        "id": execution_workflow_id(queue, caller.tenant, execution_id), "task_queue": queue,
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE})
    try:
        await temporal_calls.start_with_update(
            temporal, start, UpdateName.REGISTER, [Registration(request=execution_id)],
            timeout=REGISTER_TIMEOUT_SECONDS, result_type=Registered,
            refusals={INVALID_TRANSITION: lambda error: temporal_calls.workflow_closed(),
                      SYNC_IN_PROGRESS: lambda error: SyncInProgress(error.message)})
    except ApiError as error:
        if error.code != "workflow_closed":
            raise
    row = await store.execution_of(db, execution_id, caller.tenant)
    await hand_back(db)
    if row is None:
        raise temporal_calls.workflow_closed("the request's job was not recorded")
    return row


async def start_import(db: AsyncSession, temporal: Client, settings: Settings, caller: Caller, key: str,
                       body: ImportBody) -> ExecutionRow:
    resource = str(body.resource)
    records = validated_records(resource, body.records)
    return await _start(db, temporal, settings, caller, key, JobType.IMPORT, resource=resource,
                        params={"resource": resource, "count": len(records)}, records=records)


async def start_export(db: AsyncSession, temporal: Client, settings: Settings, caller: Caller, key: str,
                       body: ExportBody) -> ExecutionRow:
    resource = str(body.resource)
    filters = validated_filters(resource, body.filters)
    q = body.q.strip() if body.q and body.q.strip() else None
    if q is not None and "\x00" in q:
        raise BadRequest("q holds a NUL character", code="validation_error")
    params = {"resource": resource, "format": str(body.format), "filters": filters, "q": q}
    return await _start(db, temporal, settings, caller, key, JobType.EXPORT, resource=resource, params=params,
                        search=search_terms(q) if q else None)


async def start_accounting_sync(db: AsyncSession, temporal: Client, settings: Settings, caller: Caller,
                                key: str) -> ExecutionRow:
    if await accounting_adapter(db, caller.tenant) is None:
        await hand_back(db)
        raise AdapterNotConfigured("the workspace has no integrations.accounting setting (an http(s) baseUrl): "
                                   "PUT /api/v1/workspace/settings first")
    active = (await db.exec(select(ExecutionRow.job_id).where(
        ExecutionRow.workspace_id == caller.tenant, ExecutionRow.type == JobType.ACCOUNTING_SYNC,
        col(ExecutionRow.status).in_((ExecutionStatus.QUEUED, ExecutionStatus.RUNNING))))).first()
    await hand_back(db)
    if active is not None:
        raise SyncInProgress(f"the accounting sync {active} is queued or running")
    return await _start(db, temporal, settings, caller, key, JobType.ACCOUNTING_SYNC, params={})


async def retry_job(db: AsyncSession, temporal: Client, settings: Settings, caller: Caller,
                    job_id: str) -> ExecutionRow:
    """A new run of the job's workflow with the same input and ``retryCount`` + 1, recorded ``queued`` by that
    run before this answers. Only a failed job is retried (409 ``invalid_transition`` otherwise)."""
    row = await job_row(db, caller, job_id)
    await hand_back(db)
    if row.status != ExecutionStatus.FAILED:
        raise JobNotRetryable(row.status)
    return await retry_job_execution(db, temporal, settings, row)


async def retry_job_execution(db: AsyncSession, temporal: Client, settings: Settings,
                              row: ExecutionRow) -> ExecutionRow:
    """The retry of a job's execution (failed or cancelled): its workflow's new run, ``retryCount`` + 1."""
    assert row.job_id is not None
    params = dict(row.params or {})
    request = uuid.uuid4().hex
    run = JobRunInput(
        execution_id=row.id, job_id=row.job_id, workspace_id=row.workspace_id, type=JobType(row.type),
        resource=row.resource, params=params, input_artifact_id=row.input_artifact_id,
        search=search_terms(params["q"]) if params.get("q") else None, created_by=row.created_by,
        correlation_id=row.correlation_id, retry_count=row.retry_count + 1,
        max_attempts=settings.platform.adapter_max_attempts, request=request)
    start = temporal_calls.WorkflowStart(WORKFLOW_OF[JobType(row.type)], run, {
        "id": row.workflow_id, "task_queue": platform_queue(settings),
        "id_reuse_policy": WorkflowIDReusePolicy.ALLOW_DUPLICATE})

    def refused(error: Any) -> Exception:
        details = error.details[0] if error.details and isinstance(error.details[0], dict) else {}
        return InvalidTransition(details.get("currentStatus"), "retry")

    await temporal_calls.start_with_update(
        temporal, start, UpdateName.REGISTER, [Registration(request=request)], timeout=REGISTER_TIMEOUT_SECONDS,
        result_type=Registered, refusals={INVALID_TRANSITION: refused,
                                          SYNC_IN_PROGRESS: lambda error: SyncInProgress(error.message)})
    fresh = await db.get(ExecutionRow, row.id, populate_existing=True)
    assert fresh is not None, "an execution is never deleted"
    await hand_back(db)
    return fresh
