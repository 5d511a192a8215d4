"""Recent events across runs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request

from api.common.deps import ReaderDep, SessionDep
from api.common.openapi import authenticated_by
from api.common.pagination import ClampedLimit, Offset
from api.protocols.deps import VisibilityDep
from api.protocols.project_tokens import check_project_token
from api.protocols.security import PROJECT_TOKEN
from api.protocols.services.events import list_events
from api.protocols.services.runs import get_project
from models.protocols.event import EventPublic

router = APIRouter(tags=["events"])


@router.get("/events", response_model=list[EventPublic], summary="Recent events, newest first",
            description="Without `project_id`, events of projects guarded by a project token are left out "
                        "unless the request carries that project's `X-Project-Token`; with `project_id`, a "
                        "guarded project's token is required.",
            responses={404: {"description": "No project with that `project_id`"}})
@authenticated_by(PROJECT_TOKEN)
async def recent_events(request: Request, session: SessionDep, visibility: VisibilityDep, _: ReaderDep,
                        project_id: Annotated[int | None, Query(description="Only this project's events.")] = None,
                        limit: ClampedLimit = 50, offset: Offset = 0) -> list[EventPublic]:
    if project_id is not None:
        check_project_token(request, await get_project(session, project_id))
    return await list_events(session, project_id=project_id, limit=limit, offset=offset,
                             visible=visibility.visible() if project_id is None else None)
