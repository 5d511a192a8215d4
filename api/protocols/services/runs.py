"""Reading protocol runs and turning them into API responses."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.lookups import get_or_404
from capstan.settings import Settings
from capstan.temporal import workflow_ui_url
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, ProtocolRunPublic


def run_public(run: ProtocolRun, settings: Settings) -> ProtocolRunPublic:
    """The run as the API shows it. ``workflow_url`` opens the execution that last wrote the run (its workflow
    id and run id), so it never opens another execution with the same workflow id; ``null`` until one is known
    (the run's workflow could not be started yet)."""
    url = workflow_ui_url(settings.temporal.ui_url, settings.temporal.namespace, run.workflow_id, run.workflow_run_id) \
        if run.workflow_id and run.workflow_run_id else None
    return ProtocolRunPublic.model_validate(run, update={"workflow_url": url})


async def get_run(session: AsyncSession, run_id: int) -> ProtocolRun:
    return await get_or_404(session, ProtocolRun, run_id, "protocol_run_not_found", "protocol run")


async def get_project(session: AsyncSession, project_id: int) -> Project:
    return await get_or_404(session, Project, project_id, "project_not_found", "project")


async def list_runs(session: AsyncSession, project_id: int, limit: int, offset: int) -> list[ProtocolRun]:
    query = (select(ProtocolRun).where(ProtocolRun.project_id == project_id)
             .order_by(col(ProtocolRun.id)).limit(limit).offset(offset))
    return list((await session.exec(query)).all())
