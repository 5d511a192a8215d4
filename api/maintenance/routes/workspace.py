"""The workspace backend's own events and runs (built-in or HTTP, whichever is configured)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api.common.deps import SessionDep, SettingsDep
from api.maintenance.params import BACKEND_RESPONSES, parse_limit
from api.maintenance.services.workspace import WorkspaceInspector
from models.maintenance.public import WorkspaceEventEnvelope, WorkspaceEventList, WorkspaceRunEnvelope, WorkspaceRunList

router = APIRouter(tags=["workspace"], responses=BACKEND_RESPONSES)

RawLimit = Annotated[str | None, Query(alias="limit", description="Passed to the backend (built-in: default 50, "
                                                                   "clamped to 1–500).")]


@router.get("/workspace-events", response_model=WorkspaceEventList, response_model_exclude_unset=True,
            summary="Events the workspace backend received")
async def list_workspace_events(session: SessionDep, settings: SettingsDep, limit: RawLimit = None,
                                type: str | None = None) -> WorkspaceEventList:  # noqa: A002
    return await WorkspaceInspector(settings, session).list_events(type, parse_limit(limit))


@router.get("/workspace-events/{event_id:path}", response_model=WorkspaceEventEnvelope,
            response_model_exclude_unset=True, summary="One event of the workspace backend, with its runs")
async def read_workspace_event(event_id: str, session: SessionDep, settings: SettingsDep) -> WorkspaceEventEnvelope:
    return await WorkspaceInspector(settings, session).read_event(event_id)


@router.get("/workspace-runs", response_model=WorkspaceRunList, response_model_exclude_unset=True,
            summary="Runs of the workspace backend, newest first")
async def list_workspace_runs(session: SessionDep, settings: SettingsDep, limit: RawLimit = None,
                              status: str | None = None,
                              eventId: str | None = None) -> WorkspaceRunList:  # noqa: N803 - the documented name
    return await WorkspaceInspector(settings, session).list_runs(eventId, status, parse_limit(limit))


@router.get("/workspace-runs/{run_id:path}", response_model=WorkspaceRunEnvelope, response_model_exclude_unset=True,
            summary="One run of the workspace backend")
async def read_workspace_run(run_id: str, session: SessionDep, settings: SettingsDep) -> WorkspaceRunEnvelope:
    return await WorkspaceInspector(settings, session).read_run(run_id)
