"""Projects."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.common.deps import ReaderDep, SessionDep, SettingsDep, TemporalDep, WriterDep
from api.common.pagination import Limit, Offset
from api.protocols.deps import ProjectDep, VisibilityDep
from api.protocols.services import projects as service
from api.protocols.services.runs import list_runs, run_public
from models.protocols.project import ProjectCreate, ProjectPublic
from models.protocols.protocol import ProtocolRunPublic

router = APIRouter(tags=["projects"])


@router.post("/projects", response_model=ProjectPublic, summary="Create a project and start its setup run")
async def create_project(body: ProjectCreate, request: Request, session: SessionDep, temporal: TemporalDep,
                         settings: SettingsDep, _: WriterDep) -> ProjectPublic:
    project = await service.create_project(session, temporal, settings, request.app.state.secret_box, body)
    return ProjectPublic.from_row(project)


@router.get("/projects", response_model=list[ProjectPublic], summary="List projects, oldest first",
            description="Projects guarded by a project token are left out, unless the request carries "
                        "that project's `X-Project-Token`.")
async def list_projects(session: SessionDep, visibility: VisibilityDep, _: ReaderDep, limit: Limit = 100,
                        offset: Offset = 0) -> list[ProjectPublic]:
    projects = await service.list_projects(session, limit, offset, visible=visibility.visible())
    return [ProjectPublic.from_row(p) for p in projects]


@router.get("/projects/{project_id}", response_model=ProjectPublic, summary="Get a project")
async def get_project(project: ProjectDep) -> ProjectPublic:
    return ProjectPublic.from_row(project)


@router.get("/projects/{project_id}/protocols", response_model=list[ProtocolRunPublic],
            summary="List a project's protocol runs, oldest first")
async def list_project_protocols(project: ProjectDep, session: SessionDep, settings: SettingsDep,
                                 limit: Limit = 100, offset: Offset = 0) -> list[ProtocolRunPublic]:
    return [run_public(r, settings) for r in await list_runs(session, project.id, limit, offset)]
