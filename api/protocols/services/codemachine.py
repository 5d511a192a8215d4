"""CodeMachine import: turn a workspace's config into a protocol run and its steps.

``enqueue=false`` writes the run (``planned``), its steps and an event in one
transaction. ``enqueue=true`` records the run (``pending``) and hands the steps
to its ``ProtocolRunWorkflow`` (update ``import_steps``), which enqueues the
``codemachine_import_job``, writes the steps and plans the run.
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictBool, field_validator
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common.errors import BadRequest, Forbidden
from api.protocols.codemachine_config import (
    CodeMachineConfigError,
    CodeMachineWorkspace,
    WorkspaceOutsideRootError,
    load_workspace,
)
from api.protocols.services.protocol_workflows import send_update
from api.protocols.services.runs import run_public
from capstan.settings import Settings
from models.common.gitrefs import check_branch_name
from models.protocols.event import Event
from models.protocols.event_types import EventType
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun, ProtocolRunPublic, StepRun
from models.protocols.status import ProtocolStatus
from models.protocols.workflow_io import Update, protocol_run_workflow_id

IMPORTED_EVENT = EventType.CODEMACHINE_IMPORTED


class CodeMachineImportRequest(BaseModel):
    """The body of ``POST /projects/{id}/codemachine/import``."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"protocol_name": "feature-x", "workspace_path": "/srv/codemachine/feature-x", "base_branch": "main",
         "description": "Imported from CodeMachine", "enqueue": False}]})

    protocol_name: str = Field(min_length=1, max_length=200)
    workspace_path: str = Field(min_length=1, max_length=2000,
                                description="The workspace folder; relative paths are taken under "
                                            "CAPSTAN_CODEMACHINE_ROOT when it is set.")
    base_branch: str = Field(default="main", min_length=1, max_length=255)
    description: str | None = Field(default=None, max_length=20000)
    enqueue: StrictBool = Field(default=False, description="Import through the run's workflow (a job) "
                                                           "instead of at once.")

    @field_validator("protocol_name", "base_branch")
    @classmethod
    def _is_a_branch_name(cls, value: str) -> str:
        return check_branch_name(value)


class CodeMachineImportResponse(BaseModel):
    protocol_run: ProtocolRunPublic
    job: dict[str, Any] | None
    message: str


async def import_workspace(session: AsyncSession, temporal: Client, settings: Settings, project: Project,
                           body: CodeMachineImportRequest) -> CodeMachineImportResponse:
    workspace = await read_workspace(body.workspace_path, settings)
    if body.enqueue:
        return await import_through_workflow(session, temporal, settings, project, body, workspace)
    return await import_now(session, settings, project, body, workspace)


async def read_workspace(workspace_path: str, settings: Settings) -> CodeMachineWorkspace:
    """The checked workspace, or 400 listing every problem (403 outside the CodeMachine root)."""
    try:
        return await asyncio.to_thread(load_workspace, workspace_path, root=settings.execution.codemachine_root)
    except WorkspaceOutsideRootError:
        raise Forbidden("workspace_path must lie inside the CodeMachine root (CAPSTAN_CODEMACHINE_ROOT)",
                        code="workspace_outside_root") from None
    except CodeMachineConfigError as exc:
        raise BadRequest(f"invalid CodeMachine workspace: {exc}", code="invalid_codemachine_config",
                         extra={"problems": exc.problems}) from None


async def import_now(session: AsyncSession, settings: Settings, project: Project, body: CodeMachineImportRequest,
                     workspace: CodeMachineWorkspace) -> CodeMachineImportResponse:
    """The run (``planned``), its steps and the ``codemachine_imported`` event, in one transaction."""
    run = await _add_run(session, project, body, workspace, ProtocolStatus.PLANNED)
    session.add_all([StepRun(protocol_run_id=run.id, **asdict(step)) for step in workspace.steps])
    count = len(workspace.steps)
    session.add(Event(
        project_id=project.id, protocol_run_id=run.id, event_type=IMPORTED_EVENT,
        message=f"Imported {count} step{'s' if count != 1 else ''} from CodeMachine workspace {workspace.path}",
        event_metadata={"workspace_path": str(workspace.path), "config_file": workspace.config_file,
                        "workflow_name": workspace.config.name, "step_count": count},
    ))
    await session.commit()
    await session.refresh(run)
    return CodeMachineImportResponse(protocol_run=run_public(run, settings), job=None,
                                     message=f"CodeMachine workspace imported: {count} steps planned")


async def import_through_workflow(session: AsyncSession, temporal: Client, settings: Settings, project: Project,
                                  body: CodeMachineImportRequest,
                                  workspace: CodeMachineWorkspace) -> CodeMachineImportResponse:
    """Record the run (``pending``), then let its workflow import the steps as a job.

    If the update cannot be delivered (503), the run stays ``pending`` with the
    config in ``template_source``; the import can be sent again.
    """
    run = await _add_run(session, project, body, workspace, ProtocolStatus.PENDING)
    await session.commit()
    result = await send_update(session, temporal, settings, run, Update.IMPORT_STEPS, workspace.steps)
    await session.refresh(run)
    return CodeMachineImportResponse(protocol_run=run_public(run, settings), job=result.job,
                                     message=result.message)


async def _add_run(session: AsyncSession, project: Project, body: CodeMachineImportRequest,
                   workspace: CodeMachineWorkspace, status: ProtocolStatus) -> ProtocolRun:
    run = ProtocolRun(project_id=project.id, protocol_name=body.protocol_name, status=status,
                      base_branch=body.base_branch, description=body.description,
                      template_source=workspace.template_source())
    session.add(run)
    await session.flush()  # the id names the workflow
    run.workflow_id = protocol_run_workflow_id(run.id)
    return run
