"""Jobs: ``POST /imports``, ``POST /exports``, ``POST /integrations/accounting/sync``, ``GET /jobs[/{id}]``, the
retry of a failed job and ``GET /agent-runtime/failures``.

Routes parse and answer; ``services.jobs`` and ``services.failures`` decide, the job's workflow writes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.pagination import Limit, ListPage, Offset, Sort
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.failures import FAILURE_SORTS, failure_page
from api.platform_v1.services.jobs import (
    JOB_SORTS,
    job_location,
    job_page,
    job_row,
    job_view,
    retry_job,
    start_accounting_sync,
    start_export,
    start_import,
)
from models.platform_v1.executions import ExecutionStatus
from models.platform_v1.job_contracts import (
    ExportBody,
    FailurePublic,
    ImportBody,
    JobPublic,
    ResourceName,
    SyncBody,
)
from models.platform_v1.jobs import FailureKind, JobType

router = APIRouter(tags=["jobs"])

JobId = Annotated[str, Path(max_length=64, description="`job_` + 32 hex digits.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`: no such job in this workspace"}}
STARTED: dict[int | str, dict[str, Any]] = {
    503: {"description": "Temporal unreachable or no worker (`Retry-After`); nothing was started"}}


def _accepted(row: Any, settings: Any) -> Response:
    job = job_view(row, settings)
    return json_answer(job, status_code=202, headers={"Location": job_location(job.id)})


@platform_route(router, "POST", f"{V1}/imports", summary="Import records (a job)", status_code=202,
                description="1–5000 records of one resource, every one validated first (400 `validation_error` "
                            "naming `body.records[i].field`, and no job). The job writes all of them in one "
                            "transaction, each audited with the caller as actor and emitting its usual event; a "
                            "broken reference fails it `invalid_reference` and writes none. → 202 job, `Location`.",
                responses={**STARTED, 400: {"description": "`validation_error` naming the record and field"}},
                response_model=JobPublic)
async def post_import(body: ImportBody, caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                      settings: SettingsDep) -> Response:
    return _accepted(await start_import(db, temporal, settings, caller, key.value, body), settings)


@platform_route(router, "POST", f"{V1}/exports", summary="Export records (a job)", status_code=202,
                description="The resource's live records matching `filters` (its list filters) and `q`, as JSON "
                            "(records as `GET` shows them, oldest first) or CSV, written as an artifact readable by "
                            "msp_admin and data_admin (`artifactUrl`). Over 100,000 records fails it "
                            "`export_too_large`. → 202 job, `Location`.",
                responses={**STARTED, 400: {"description": "`validation_error`: an unknown filter or a bad value"}},
                response_model=JobPublic)
async def post_export(body: ExportBody, caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                      settings: SettingsDep) -> Response:
    return _accepted(await start_export(db, temporal, settings, caller, key.value, body), settings)


@platform_route(router, "POST", f"{V1}/integrations/accounting/sync", summary="Sync with the accounting system",
                status_code=202,
                description="Sends the live clients and non-draft invoices to `integrations.accounting.baseUrl` "
                            "`/sync` and applies the payments it answers (a new `externalId` once; invoices of "
                            "other workspaces rejected; an issued or overdue invoice paid in full becomes `paid`). "
                            "The body is `{}` or none. → 202 `accounting_sync` job, `Location`.",
                responses={**STARTED, 409: {"description": "`adapter_not_configured` (no `integrations.accounting` "
                                                           "setting) or `sync_in_progress`"}},
                response_model=JobPublic)
async def post_accounting_sync(caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                               settings: SettingsDep, body: SyncBody | None = None) -> Response:
    return _accepted(await start_accounting_sync(db, temporal, settings, caller, key.value), settings)


@platform_route(router, "GET", f"{V1}/jobs", summary="List jobs",
                description="Newest first unless `sortBy` (`queuedAt`, `completedAt`) says otherwise.",
                response_model=ListPage[JobPublic])
async def list_jobs(caller: CallerDep, db: SessionDep, settings: SettingsDep, limit: Limit = 50, offset: Offset = 0,
                    sort: Sort = Depends(JOB_SORTS.dependency()),
                    type: Annotated[JobType | None, Query(description="Only this type.")] = None,  # noqa: A002
                    status: Annotated[ExecutionStatus | None, Query(description="Only this status.")] = None,
                    resource: Annotated[ResourceName | None,  # type: ignore[valid-type]
                                        Query(description="Only this resource's.")] = None,
                    q: Annotated[str | None, Query(max_length=200, description="Text to find.")] = None) -> Response:
    filters = {"type": type, "status": status, "resource": resource}
    return json_answer(await job_page(db, caller, settings, limit=limit, offset=offset, sort=sort, filters=filters,
                                      q=q.strip() if q and q.strip() else None))


@platform_route(router, "GET", f"{V1}/jobs/{{job_id}}", summary="One job", responses=NOT_FOUND,
                response_model=JobPublic)
async def get_job(job_id: JobId, caller: CallerDep, db: SessionDep, settings: SettingsDep) -> Response:
    return json_answer(job_view(await job_row(db, caller, job_id), settings))


@platform_route(router, "POST", f"{V1}/agent-runtime/job-failures/{{job_id}}/retry", summary="Retry a failed job",
                status_code=202, tags=["agents"],
                description="A new run of the job's workflow: `queued` again with `retryCount` + 1 and `errorCode`, "
                            "`errorMessage`, `startedAt`, `completedAt`, `artifactUrl` cleared. The body is `{}` or "
                            "none.",
                responses={**NOT_FOUND, **STARTED,
                           409: {"description": "`invalid_transition` (with `currentStatus`): the job is not failed; "
                                                "`sync_in_progress`"}},
                response_model=JobPublic)
async def retry_failed_job(job_id: JobId, caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                           settings: SettingsDep, body: SyncBody | None = None) -> Response:
    return _accepted(await retry_job(db, temporal, settings, caller, job_id), settings)


@platform_route(router, "GET", f"{V1}/agent-runtime/failures", summary="What is failed now", tags=["agents"],
                description="Failed agent and smoke executions, failed jobs and failed outbox events, newest first, "
                            "each with the route that retries it (`retryPath`); an item leaves once retried.",
                response_model=ListPage[FailurePublic])
async def list_failures(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                        sort: Sort = Depends(FAILURE_SORTS.dependency()),
                        kind: Annotated[FailureKind | None, Query(description="Only this kind.")] = None) -> Response:
    return json_answer(await failure_page(db, caller, limit=limit, offset=offset, sort=sort, kind=kind))
