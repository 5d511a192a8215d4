"""Task queues and jobs, as Temporal sees them (the orchestrator API's "Events & queues")."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.deps import ReaderDep, SessionDep, SettingsDep, TemporalDep
from api.common.pagination import Limit, Offset
from api.ops.services import jobs as job_service
from api.ops.services import queues as service
from models.ops.queues import Job, JobStatus, QueueStats

router = APIRouter(tags=["queues"])

#: Of the given project ids, those the request may not see (guarded by a project token it lacks).
#: Project tokens belong to the protocols surface, which this one does not import: the app sets
#: ``app.state.hidden_projects`` (``api/app.py``). Without it every project counts as hidden.
HiddenProjects = Callable[[Request, AsyncSession, Iterable[int]], Awaitable[set[int]]]


async def _all_hidden(request: Request, session: AsyncSession, project_ids: Iterable[int]) -> set[int]:
    return set(project_ids)

_UNAVAILABLE = {502: {"description": "Temporal refused the call"}}

StatusQuery = Annotated[JobStatus | None, Query(
    description="Only jobs in this state: `queued` (waiting for a worker), `started` (taken by a worker), "
                "`failed` (failed, timed out, terminated or cancelled), `finished` (completed). "
                "Another value is a 400.")]


@router.get("/queues", response_model=list[QueueStats], summary="Task queue statistics, per queue",
            description="For each Capstan task queue: its recent pollers (workers) and, from Temporal's "
                        "task queue statistics, the approximate backlog, the age of its oldest task and "
                        "the add and dispatch rates, in total and per task type (workflow, activity).",
            responses=_UNAVAILABLE)
async def list_queues(temporal: TemporalDep, settings: SettingsDep, _: ReaderDep) -> list[QueueStats]:
    return await service.list_queue_stats(temporal, settings)


@router.get("/queues/jobs", response_model=list[Job], summary="Jobs on the task queues, newest first",
            description="Capstan workflow executions on its task queues, with their pending activities "
                        "(attempts included), their input as `payload` and their search attributes and "
                        "Web UI link as `metadata`. Listing comes from Temporal visibility, which trails "
                        "the executions by a moment. Jobs of a project guarded by a project token show no "
                        "`payload` and no failure messages unless the request carries that project's "
                        "`X-Project-Token`.",
            responses={400: {"description": "Unknown status, or limit/offset out of range"}, **_UNAVAILABLE})
async def list_jobs(request: Request, temporal: TemporalDep, settings: SettingsDep, session: SessionDep,
                    _: ReaderDep, status: StatusQuery = None, limit: Limit = job_service.DEFAULT_LIMIT,
                    offset: Offset = 0) -> list[Job]:
    await session.commit()  # the connection goes back to the pool while Temporal answers
    jobs = await job_service.list_jobs(temporal, settings, status, limit, offset)
    hidden_projects: HiddenProjects = getattr(request.app.state, "hidden_projects", _all_hidden)
    hidden = await hidden_projects(request, session, {j.metadata.project_id for j in jobs if j.metadata.project_id})
    return job_service.redact_jobs(jobs, hidden)
