"""Reading protocol runs and turning them into API responses."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import NotFound
from capstan.settings import Settings
from capstan.temporal import workflow_ui_url
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, ProtocolRunPublic


def run_public(run: ProtocolRun, settings: Settings) -> ProtocolRunPublic:
    url = workflow_ui_url(settings.temporal.ui_url, settings.temporal.namespace, run.workflow_id) \
        if run.workflow_id else None
    return ProtocolRunPublic.model_validate(run, update={"workflow_url": url})


#: Ids are Postgres integers: a larger one names nothing (404), rather than failing the query.
MAX_ID = 2**31 - 1


def record_exists(record_id: int) -> bool:
    return 0 < record_id <= MAX_ID


async def get_run(session: AsyncSession, run_id: int) -> ProtocolRun:
    run = await session.get(ProtocolRun, run_id) if record_exists(run_id) else None
    if run is None:
        raise NotFound(f"protocol run {run_id} not found", code="protocol_run_not_found")
    return run


async def get_project(session: AsyncSession, project_id: int) -> Project:
    project = await session.get(Project, project_id) if record_exists(project_id) else None
    if project is None:
        raise NotFound(f"project {project_id} not found", code="project_not_found")
    return project


async def list_runs(session: AsyncSession, project_id: int, limit: int, offset: int) -> list[ProtocolRun]:
    query = (select(ProtocolRun).where(ProtocolRun.project_id == project_id)
             .order_by(col(ProtocolRun.id)).limit(limit).offset(offset))
    return list((await session.exec(query)).all())
