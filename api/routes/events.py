"""Recent events across runs (seed 003)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.auth import check_project_token
from api.deps import ReaderDep, SessionDep
from api.services.events import clamp_limit, list_events
from api.services.runs import get_project
from models.event import EventPublic

router = APIRouter(tags=["events"])

LimitQuery = Annotated[int | None, Query(description="Page size; default 50, clamped to 1–500.")]
OffsetQuery = Annotated[int, Query(ge=0, description="Events to skip (newest first).")]


@router.get("/events", response_model=list[EventPublic], summary="Recent events, newest first",
            description="Without `project_id`, events of projects guarded by a project token are left out; "
                        "ask for such a project's events with `project_id` and its `X-Project-Token`.")
async def recent_events(request: Request, session: SessionDep, _: ReaderDep,
                        project_id: Annotated[int | None, Query(description="Only this project's events.")] = None,
                        limit: LimitQuery = None, offset: OffsetQuery = 0) -> list[EventPublic]:
    if project_id is not None:
        check_project_token(request, await get_project(session, project_id))
    return await list_events(session, project_id=project_id, limit=clamp_limit(limit), offset=offset,
                             open_projects_only=project_id is None)
