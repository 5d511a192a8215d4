"""Step runs and their actions."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.deps import SessionDep, SettingsDep, TemporalDep, WriterDep
from api.common.pagination import ArtifactLimit, Offset
from api.protocols.deps import StepDep
from api.protocols.routes.protocols import ACTION_RESPONSES
from api.protocols.services import protocols as service
from models.protocols.artifact import ArtifactPublic
from models.protocols.protocol import ActionResponse, StepRunPublic
from models.protocols.status import StepAction

router = APIRouter(tags=["steps"])

SUMMARIES = {
    StepAction.RUN: "Run the step (from pending, blocked or failed)",
    StepAction.RUN_QA: "Run the step's QA check",
    StepAction.APPROVE: "Approve the step; completes the protocol when every step is done",
}


@router.get("/steps/{step_id}", response_model=StepRunPublic, summary="Get a step run")
async def get_step(step: StepDep) -> StepRunPublic:
    return StepRunPublic.model_validate(step)


@router.get("/steps/{step_id}/artifacts", response_model=list[ArtifactPublic],
            summary="A step's engine and QA output, newest first")
async def step_artifacts(step: StepDep, session: SessionDep,
                         limit: ArtifactLimit = 20, offset: Offset = 0) -> list[ArtifactPublic]:
    return [ArtifactPublic.model_validate(a) for a in await service.list_artifacts(session, step.id, limit, offset)]


def _action_route(action: StepAction) -> None:
    async def step_action(step: StepDep, session: SessionDep, temporal: TemporalDep, settings: SettingsDep,
                          _: WriterDep) -> ActionResponse:
        return await service.run_step_action(session, temporal, settings, step, action)

    router.add_api_route(f"/steps/{{step_id}}/actions/{action.value}", step_action, methods=["POST"],
                         response_model=ActionResponse, summary=SUMMARIES[action], responses=ACTION_RESPONSES,
                         operation_id=f"step_{action.value}")


for _action in StepAction:
    _action_route(_action)
