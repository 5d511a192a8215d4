"""``POST /execute/{agent}.{reasoner}``: check the target, store the input, start the execution.

The refusals (a bad target, an unknown agent or reasoner, a stale agent, a bad body) come before anything is
written. The execution's id is derived from the request (workspace, caller and ``Idempotency-Key``), and so
is its workflow id: a request sent again, even after the key's stored answer was lost with a crashed API,
reaches the same workflow (update-with-start, ``USE_EXISTING``), or is refused a second run once it has ended
(``REJECT_DUPLICATE``) and answered from the record; the agent is never called for it again. The input is
stored as an artifact before the start, so only its id is in the workflow's history.

The answer comes once the workflow has recorded the execution (its ``register`` Update), and for a sync
execute once it has ended or ``waitSeconds`` have passed (the Update's own durable wait): the API never
awaits the workflow's result and never writes the record.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from api.common import temporal_calls
from api.common.errors import ApiError, BadRequest
from api.platform_v1.caller import Caller
from api.platform_v1.services.agents import agent_target
from api.platform_v1.services.connections import hand_back
from api.platform_v1.services.executions import REGISTER_TIMEOUT_SECONDS, platform_queue
from capstan.settings import Settings
from integrations.stores import platform_executions as store
from models.platform_v1.engine_tables import ExecutionRow
from models.platform_v1.execution_contracts import ExecuteBody
from models.platform_v1.executions import (
    AGENT_NAME,
    ARTIFACT_PREFIX,
    EXECUTION_PREFIX,
    ExecutionMode,
    ExecutionStatus,
    derived_id,
    execution_workflow_id,
)
from models.platform_v1.workflow_io import (
    INVALID_TRANSITION,
    AgentExecutionInput,
    Registered,
    Registration,
    UpdateName,
    WorkflowName,
)

DEFAULT_WAIT_SECONDS = 30
TARGET = re.compile(rf"^(?P<agent>{AGENT_NAME.pattern[1:-1]})\.(?P<reasoner>{AGENT_NAME.pattern[1:-1]})$")


@dataclass(frozen=True)
class Executed:
    row: ExecutionRow
    #: Whether the answer waited for the end and got it (a sync execute finished in time).
    finished: bool
    result: Any = None


def parse_target(target: str) -> tuple[str, str]:
    matched = TARGET.match(target)
    if matched is None:
        raise BadRequest(f"the target {target!r} is not agent.reasoner (each ^[a-z0-9][a-z0-9_-]{{0,62}}$)",
                         code="invalid_target")
    return matched["agent"], matched["reasoner"]


def check_body(body: ExecuteBody) -> float:
    """How long a sync execute waits; 400 for ``waitSeconds`` on an async one."""
    if body.mode == ExecutionMode.ASYNC:
        if body.waitSeconds is not None:
            raise BadRequest("waitSeconds is for sync executions only", code="validation_error", extra={"fields": [
                {"field": "body.waitSeconds", "message": "only with mode sync", "type": "value_error"}]})
        return 0
    return body.waitSeconds or DEFAULT_WAIT_SECONDS


async def execute(db: AsyncSession, temporal: Client, settings: Settings, caller: Caller, key: str, target: str,
                  body: ExecuteBody) -> Executed:
    agent_id, reasoner = parse_target(target)
    wait = check_body(body)
    agent = await agent_target(db, caller.tenant, agent_id, reasoner, settings, refuse_stale=True)
    execution_id = derived_id(EXECUTION_PREFIX, caller.tenant, caller.actor, "execute", key)
    input_id = derived_id(ARTIFACT_PREFIX, execution_id, "input")
    await store.put_artifact(db, artifact_id=input_id, workspace_id=caller.tenant, kind="payload",
                             content=json.dumps(body.input, separators=(",", ":")).encode(), execution_id=execution_id)
    await db.commit()
    queue = platform_queue(settings)
    run = AgentExecutionInput(
        execution_id=execution_id, workspace_id=caller.tenant, target=agent, mode=body.mode, input_artifact_id=input_id,
        created_by=caller.actor, correlation_id=caller.correlation_id,
        max_attempts=settings.platform.agent_call_max_attempts, request=execution_id)
    start = temporal_calls.WorkflowStart(WorkflowName.AGENT_EXECUTION, run, {
        "id": execution_workflow_id(queue, caller.tenant, execution_id), "task_queue": queue,
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE})
    finished = False
    try:
        registered = await temporal_calls.start_with_update(
            temporal, start, UpdateName.REGISTER, [Registration(request=execution_id, wait_seconds=wait)],
            timeout=wait + REGISTER_TIMEOUT_SECONDS, result_type=Registered,
            refusals={INVALID_TRANSITION: lambda error: temporal_calls.workflow_closed()})
        finished = registered.ended and wait > 0
    except ApiError as error:
        if error.code != "workflow_closed":
            raise
        # The same request once more, after its execution ended (or while a retry's run holds it): the record.
        finished = wait > 0
    row = await store.execution_of(db, execution_id, caller.tenant)
    assert row is not None, "recorded by its workflow before the register Update answered"
    await hand_back(db)
    if not finished or row.status not in (ExecutionStatus.SUCCEEDED, ExecutionStatus.FAILED,
                                          ExecutionStatus.CANCELLED):
        return Executed(row, finished=False)
    return Executed(row, finished=True, result=await output_of(db, row))


async def output_of(db: AsyncSession, row: ExecutionRow) -> Any:
    """The output JSON of a succeeded execution; ``None`` otherwise."""
    if row.status != ExecutionStatus.SUCCEEDED or row.output_artifact_id is None:
        return None
    artifact = await store.artifact_of(db, row.workspace_id, row.output_artifact_id)
    await hand_back(db)
    return json.loads(artifact.content) if artifact is not None else None
