"""Protocol runs and their actions."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.deps import ReaderDep, SessionDep, SettingsDep, TemporalDep, WriterDep
from api.common.pagination import ClampedLimit, Limit, Offset
from api.protocols.deps import ProjectDep, RunDep
from api.protocols.services import protocols as service
from api.protocols.services.events import list_events
from api.protocols.services.runs import run_public
from models.protocols.event import EventPublic
from models.protocols.protocol import ActionResponse, ProtocolRunCreate, ProtocolRunPublic, StepRunCreate, StepRunPublic
from models.protocols.status import ProtocolAction

router = APIRouter(tags=["protocols"])

#: What is particular to actions; the rest of their errors come from their dependencies (api/common/openapi.py).
ACTION_RESPONSES = {
    404: {"description": "No such protocol run or step, or no eligible step"},
    409: {"description": "The action is not allowed from the run's current status"},
}

ACTION_SUMMARIES = {
    ProtocolAction.START: "Plan the protocol from its step files (from pending, planned or paused)",
    ProtocolAction.PAUSE: "Pause the run",
    ProtocolAction.RESUME: "Resume a paused run",
    ProtocolAction.CANCEL: "Cancel the run and its unfinished steps (idempotent)",
    ProtocolAction.RUN_NEXT_STEP: "Run the first pending, blocked or failed step",
    ProtocolAction.RETRY_LATEST: "Retry the latest failed or blocked step",
    ProtocolAction.OPEN_PR: "Push the protocol branch and open a pull or merge request",
}


@router.post("/projects/{project_id}/protocols", response_model=ProtocolRunPublic,
             summary="Create a protocol run", responses={404: {"description": "No such project"}})
async def create_protocol(project: ProjectDep, body: ProtocolRunCreate, session: SessionDep, temporal: TemporalDep,
                          settings: SettingsDep, _: WriterDep) -> ProtocolRunPublic:
    return run_public(await service.create_run(session, temporal, settings, project, body), settings)


@router.get("/protocols/{protocol_run_id}", response_model=ProtocolRunPublic, summary="Get a protocol run")
async def get_protocol(run: RunDep, settings: SettingsDep) -> ProtocolRunPublic:
    return run_public(run, settings)


@router.get("/protocols/{protocol_run_id}/events", response_model=list[EventPublic],
            summary="A protocol run's events, newest first")
async def protocol_events(run: RunDep, session: SessionDep, limit: ClampedLimit = 50,
                          offset: Offset = 0) -> list[EventPublic]:
    return await list_events(session, protocol_run_id=run.id, limit=limit, offset=offset)


@router.post("/protocols/{protocol_run_id}/steps", response_model=StepRunPublic,
             summary="Create a step run (no job is started)",
             responses={409: {"description": "A step with that step_index exists"}})
async def create_step(run: RunDep, body: StepRunCreate, session: SessionDep, temporal: TemporalDep,
                      settings: SettingsDep, _: WriterDep) -> StepRunPublic:
    return StepRunPublic.model_validate(await service.create_step(session, temporal, settings, run, body))


@router.get("/protocols/{protocol_run_id}/steps", response_model=list[StepRunPublic],
            summary="A protocol run's steps, by step_index")
async def list_steps(run: RunDep, session: SessionDep, _: ReaderDep, limit: Limit = 500,
                     offset: Offset = 0) -> list[StepRunPublic]:
    return [StepRunPublic.model_validate(s) for s in await service.list_steps(session, run.id, limit, offset)]


def _action_route(action: ProtocolAction) -> None:
    async def protocol_action(run: RunDep, session: SessionDep, temporal: TemporalDep, settings: SettingsDep,
                              _: WriterDep) -> ActionResponse:
        return await service.run_protocol_action(session, temporal, settings, run, action)

    router.add_api_route(f"/protocols/{{protocol_run_id}}/actions/{action.value}", protocol_action,
                         methods=["POST"], response_model=ActionResponse, summary=ACTION_SUMMARIES[action],
                         responses=ACTION_RESPONSES, operation_id=f"protocol_{action.value}")


for _action in ProtocolAction:
    _action_route(_action)
