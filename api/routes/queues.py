"""Task queues and jobs, as Temporal sees them (seed 003, "Events & queues")."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.deps import ReaderDep, SettingsDep, TemporalDep
from api.services import queues as service
from models.queues import Job, JobStatus, QueueStats

router = APIRouter(tags=["queues"])

_UNAVAILABLE = {503: {"description": "Temporal is unreachable"}, 502: {"description": "Temporal refused the call"}}

StatusQuery = Annotated[JobStatus | None, Query(
    description="Only jobs in this state: `queued` (waiting for a worker), `started` (taken by a worker), "
                "`failed` (failed, timed out, terminated or cancelled), `finished` (completed). "
                "Another value is a 400.")]
LimitQuery = Annotated[int, Query(ge=1, le=service.MAX_LIMIT, description="Page size (1–500).")]
OffsetQuery = Annotated[int, Query(ge=0, description="Jobs to skip.")]


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
                        "the executions by a moment.",
            responses={400: {"description": "Unknown status, or limit/offset out of range"}, **_UNAVAILABLE})
async def list_jobs(temporal: TemporalDep, settings: SettingsDep, _: ReaderDep, status: StatusQuery = None,
                    limit: LimitQuery = service.DEFAULT_LIMIT, offset: OffsetQuery = 0) -> list[Job]:
    return await service.list_jobs(temporal, settings, status, limit, offset)
