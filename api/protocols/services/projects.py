"""Projects: creating one records it with its setup run and starts ``ProjectSetupWorkflow``."""

from __future__ import annotations

import logging

from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common.temporal_calls import WorkflowStart, start_workflow_once
from api.protocols.services.protocol_workflows import remember_workflow_run
from capstan.secrets import SecretBox
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.protocols.project import Project, ProjectCreate
from models.protocols.protocol import ProtocolRun
from models.protocols.setup_start import project_setup_start
from models.protocols.status import ProtocolStatus
from models.protocols.workflow_io import WorkflowName, project_setup_workflow_id

log = logging.getLogger(__name__)

SETUP_PREFIX = "setup-"


async def create_project(session: AsyncSession, temporal: Client, settings: Settings, secret_box: SecretBox,
                         body: ProjectCreate) -> Project:
    """Record the project and its setup run in one transaction, then start the setup workflow.

    If the start fails (Temporal down, API killed in between), the run stays
    ``pending`` and the lost-setup schedule (``workflows.protocols.reconcile``) starts it later.
    """
    project = Project.model_validate(body, update={"secrets": secret_box.seal(body.secrets)})
    session.add(project)
    await session.flush()
    run = ProtocolRun(project_id=project.id, protocol_name=f"{SETUP_PREFIX}{project.id}",
                      status=ProtocolStatus.PENDING, base_branch=project.base_branch,
                      description=f"Setup of project {project.name}",
                      workflow_id=project_setup_workflow_id(project.id))
    session.add(run)
    await session.commit()
    await session.refresh(project)
    try:
        await remember_workflow_run(session, run, await start_project_setup(temporal, settings, project, run))
    except Exception:  # Temporal unreachable: the lost-setup schedule retries; the project is recorded.
        log.exception("could not start setup of project %s; it will be retried", project.id)
    return project


async def start_project_setup(temporal: Client, settings: Settings, project: Project, run: ProtocolRun) -> str | None:
    """Start the setup workflow unless it runs or ran; the run id of the execution running now, if one is."""
    setup_input, options = project_setup_start(
        project, run, task_queue=surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS),
        heartbeat_timeout_seconds=settings.temporal.activity_heartbeat_seconds)
    return await start_workflow_once(temporal, WorkflowStart(WorkflowName.PROJECT_SETUP, setup_input, options))


async def list_projects(session: AsyncSession, limit: int, offset: int,
                        visible: ColumnElement[bool] | None = None) -> list[Project]:
    """``visible``: which projects the caller may see (``ProjectVisibility.visible()``)."""
    query = select(Project).order_by(col(Project.id)).limit(limit).offset(offset)
    if visible is not None:
        query = query.where(visible)
    return list((await session.exec(query)).all())
