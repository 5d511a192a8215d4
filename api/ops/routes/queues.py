"""Task queues and jobs, as Temporal sees them (the orchestrator API's "Events & queues").

The queues are every worker surface's; what the jobs on a queue are called, and which a request may not
look inside, its surface declares (``api.common.jobs.SurfaceJobs``). ``api/surfaces.py`` hands those
declarations to ``queues_router``: this surface imports no other.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated

from fastapi import APIRouter, Query, Request
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.deps import ReaderDep, SessionDep, SettingsDep, TemporalDep
from api.common.jobs import SurfaceJobs
from api.common.pagination import Limit, Offset
from api.ops.services import jobs as job_service
from api.ops.services import queues as service
from models.ops.queues import Job, JobStatus, QueueStats

_UNAVAILABLE = {502: {"description": "Temporal refused the call"}}

StatusQuery = Annotated[JobStatus | None, Query(
    description="Only jobs in this state: `queued` (waiting for a worker), `started` (taken by a worker), "
                "`failed` (failed, timed out, terminated or cancelled), `finished` (completed). "
                "Another value is a 400.")]


async def hidden_jobs(request: Request, session: AsyncSession, views: job_service.JobViews,
                      jobs: Sequence[Job]) -> set[tuple[str, int]]:
    """(task queue, project id) of the jobs the request may not look inside, as each queue's surface says."""
    hidden: set[tuple[str, int]] = set()
    for queue, view in views.items():
        projects = {job.metadata.project_id for job in jobs if job.task_queue == queue and job.metadata.project_id}
        if view.hidden_projects is not None and projects:
            hidden.update((queue, project) for project in await view.hidden_projects(request, session, projects))
    return hidden


def queues_router(surface_jobs: Sequence[SurfaceJobs]) -> APIRouter:
    """``GET /queues`` and ``GET /queues/jobs``, reading the jobs of each surface as it declares them."""
    router = APIRouter(tags=["queues"])

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
        views = job_service.job_views(settings, surface_jobs)
        jobs = await job_service.list_jobs(temporal, settings, views, status, limit, offset)
        return job_service.redact_jobs(jobs, await hidden_jobs(request, session, views, jobs))

    return router
