"""Typed dependency aliases for routes.

Every dependency is ``async def``, even where it awaits nothing: FastAPI runs a
plain ``def`` dependency in a worker thread, and those hops cost more than the
dependency itself on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common.auth import PRINCIPAL_SCOPE_KEY, Principal, Scope, check_project_token, require_scope
from api.common.errors import ServiceUnavailable, Unauthorized
from api.common.openapi import BEARER, PROJECT_TOKEN, authenticated_by, raises
from api.protocols.services.project_access import ProjectVisibility, project_visibility
from api.protocols.services.protocols import get_step
from api.protocols.services.runs import get_project, get_run
from capstan.settings import Settings
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, StepRun


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


@raises(ServiceUnavailable)
async def _temporal(request: Request) -> Client:
    return request.app.state.temporal


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


@raises(Unauthorized)
@authenticated_by(BEARER)
async def _principal(request: Request) -> Principal:
    """The principal the request gate authenticated before the body was read (``api.common.gates``);
    a route reached without one (a gate that does not authenticate) authenticates here."""
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
    return principal if principal is not None else request.app.state.authenticator.authenticate(request)


async def _reader(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    require_scope(principal, Scope.PROTOCOLS_READ)
    return principal


async def _writer(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    require_scope(principal, Scope.PROTOCOLS_WRITE)
    return principal


SessionDep = Annotated[AsyncSession, Depends(_session)]
TemporalDep = Annotated[Client, Depends(_temporal)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PrincipalDep = Annotated[Principal, Depends(_principal)]
#: Routes that read orchestrator records.
ReaderDep = Annotated[Principal, Depends(_reader)]
#: Routes that change orchestrator records or start work.
WriterDep = Annotated[Principal, Depends(_writer)]


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
