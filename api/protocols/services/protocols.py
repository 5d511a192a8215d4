"""Protocol runs and steps: creating them, reading them, and sending their actions."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common.lookups import get_or_404
from api.protocols.services.protocol_workflows import (
    ensure_workflow,
    refuse_from_record,
    refuse_setup_run,
    send_update,
)
from capstan.settings import Settings
from models.protocols.artifact import Artifact
from models.protocols.project import Project
from models.protocols.protocol import ActionResponse, ProtocolRun, ProtocolRunCreate, StepRun, StepRunCreate
from models.protocols.status import ProtocolAction, StepAction, protocol_action_refusal, step_action_refusal
from models.protocols.workflow_io import NewStep, StepRequest, Update, protocol_run_workflow_id

# Each action is the Update of the same name (a step's with the ``step_`` prefix); an action
# without its Update fails at import.
PROTOCOL_UPDATES = {action: Update(action.value) for action in ProtocolAction}
STEP_UPDATES = {action: Update(f"step_{action.value}") for action in StepAction}


async def create_run(session: AsyncSession, temporal: Client, settings: Settings, project: Project,
                     body: ProtocolRunCreate) -> ProtocolRun:
    run = ProtocolRun.model_validate(body, update={"project_id": project.id})
    session.add(run)
    await session.flush()
    run.workflow_id = protocol_run_workflow_id(run.id)
    await session.commit()
    await session.refresh(run)
    # The workflow shows in the Web UI at once; if this start is lost, the first action starts it.
    try:
        await ensure_workflow(session, temporal, settings, run)
    except Exception:  # noqa: BLE001 - recorded run stays usable: every action is update-with-start
        pass
    return run


async def run_protocol_action(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                              action: ProtocolAction) -> ActionResponse:
    refuse_setup_run(run)
    refuse_from_record(protocol_action_refusal(action, run.status))
    result = await send_update(session, temporal, settings, run, PROTOCOL_UPDATES[action])
    return ActionResponse(message=result.message, job=result.job)


async def run_step_action(session: AsyncSession, temporal: Client, settings: Settings, step: StepRun,
                          action: StepAction) -> ActionResponse:
    run = await session.get(ProtocolRun, step.protocol_run_id)
    refuse_setup_run(run)
    refuse_from_record(step_action_refusal(action, step.id, step.status))
    result = await send_update(session, temporal, settings, run, STEP_UPDATES[action], StepRequest(step_id=step.id))
    return ActionResponse(message=result.message, job=result.job)


async def create_step(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                      body: StepRunCreate) -> StepRun:
    """Steps belong to the run's workflow, so even a hand-made step is added through it."""
    new = NewStep(**body.model_dump(mode="json"))
    result = await send_update(session, temporal, settings, run, Update.ADD_STEPS, [new])
    session.expire_all()
    return await get_step(session, result.step_id)


async def get_step(session: AsyncSession, step_id: int) -> StepRun:
    return await get_or_404(session, StepRun, step_id, "step_not_found", "step")


async def list_steps(session: AsyncSession, run_id: int, limit: int, offset: int) -> list[StepRun]:
    query = (select(StepRun).where(StepRun.protocol_run_id == run_id)
             .order_by(col(StepRun.step_index)).limit(limit).offset(offset))
    return list((await session.exec(query)).all())


async def list_artifacts(session: AsyncSession, step_id: int, limit: int, offset: int) -> list[Artifact]:
    query = (select(Artifact).where(Artifact.step_run_id == step_id)
             .order_by(col(Artifact.id).desc()).limit(limit).offset(offset))
    return list((await session.exec(query)).all())
