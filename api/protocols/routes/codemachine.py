"""CodeMachine import (orchestrator API): a workspace's agents and steps become a protocol run."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.common.deps import SessionDep, SettingsDep, TemporalDep, WriterDep
from api.common.openapi import authenticated_by
from api.protocols.project_tokens import check_project_token
from api.protocols.security import PROJECT_TOKEN
from api.protocols.services import codemachine as service
from api.protocols.services.codemachine import CodeMachineImportRequest, CodeMachineImportResponse
from api.protocols.services.runs import get_project

router = APIRouter(tags=["codemachine"])


@router.post("/projects/{project_id}/codemachine/import", response_model=CodeMachineImportResponse,
             summary="Import a CodeMachine workspace as a protocol run",
             responses={400: {"description": "Invalid body, or the workspace or its config is unusable "
                                             "(every problem is listed)"},
                        403: {"description": "Workspace outside CAPSTAN_CODEMACHINE_ROOT"},
                        404: {"description": "No such project"}})
@authenticated_by(PROJECT_TOKEN)
async def import_codemachine_workspace(project_id: int, body: CodeMachineImportRequest, request: Request,
                                       session: SessionDep, temporal: TemporalDep, settings: SettingsDep,
                                       _: WriterDep) -> CodeMachineImportResponse:
    project = await get_project(session, project_id)
    check_project_token(request, project)
    return await service.import_workspace(session, temporal, settings, project, body)
