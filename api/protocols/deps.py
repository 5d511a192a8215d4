"""Dependencies of the protocols routes: the project, run or step of the path, its project token checked."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.common.deps import ReaderDep, SessionDep
from api.common.errors import Unauthorized
from api.common.openapi import authenticated_by, raises
from api.protocols.project_tokens import check_project_token
from api.protocols.security import PROJECT_TOKEN
from api.protocols.services.project_access import ProjectVisibility, project_visibility
from api.protocols.services.protocols import get_step
from api.protocols.services.runs import get_project, get_run
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, StepRun


@authenticated_by(PROJECT_TOKEN)
async def _visibility(request: Request, session: SessionDep) -> ProjectVisibility:
    return await project_visibility(session, request)


#: Which projects guarded by a project token this request may see in lists across projects.
VisibilityDep = Annotated[ProjectVisibility, Depends(_visibility)]


@raises(Unauthorized)
@authenticated_by(PROJECT_TOKEN)
async def _project(project_id: int, request: Request, session: SessionDep, _: ReaderDep) -> Project:
    project = await get_project(session, project_id)
    check_project_token(request, project)
    return project


@raises(Unauthorized)
@authenticated_by(PROJECT_TOKEN)
async def _run(protocol_run_id: int, request: Request, session: SessionDep, _: ReaderDep) -> ProtocolRun:
    run = await get_run(session, protocol_run_id)
    check_project_token(request, await get_project(session, run.project_id))
    return run


@raises(Unauthorized)
@authenticated_by(PROJECT_TOKEN)
async def _step(step_id: int, request: Request, session: SessionDep, _: ReaderDep) -> StepRun:
    step = await get_step(session, step_id)
    run = await get_run(session, step.protocol_run_id)
    check_project_token(request, await get_project(session, run.project_id))
    return step


#: The project of the path's ``project_id``, its project token checked.
ProjectDep = Annotated[Project, Depends(_project)]
#: The protocol run of the path's ``protocol_run_id``, its project token checked.
RunDep = Annotated[ProtocolRun, Depends(_run)]
#: The step of the path's ``step_id``, its project token checked.
StepDep = Annotated[StepRun, Depends(_step)]
