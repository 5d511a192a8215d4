"""``POST /agent-runtime/smoke``: run ``PlatformSmokeWorkflow`` (an execution of type ``smoke``) and answer its
checks within 30 s. No worker within that time is an answer too: ``failed``, its ``worker`` check saying so."""

from __future__ import annotations

import json
import time

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.common import WorkflowIDReusePolicy

from api.common import temporal_calls
from api.common.errors import ApiError, BadRequest
from api.platform_v1.caller import Caller
from api.platform_v1.services.agents import agent_target
from api.platform_v1.services.execute import parse_target
from api.platform_v1.services.executions import platform_queue
from capstan.settings import Settings
from integrations.stores import platform_executions as store
from models.platform_v1.execution_contracts import SmokeAnswer, SmokeBody, SmokeCheckPublic
from models.platform_v1.executions import ARTIFACT_PREFIX, EXECUTION_PREFIX, derived_id, execution_workflow_id
from models.platform_v1.workflow_io import SmokeInput, SmokeResult, WorkflowName

SMOKE_WAIT_SECONDS = 30.0


async def run_smoke(db: AsyncSession, temporal: Client, settings: Settings, caller: Caller, key: str,
                    body: SmokeBody) -> SmokeAnswer:
    if body.input is not None and body.target is None:
        raise BadRequest("input is sent to the target's agent: give a target too", code="validation_error",
                         extra={"fields": [{"field": "body.input", "message": "only with a target",
                                            "type": "value_error"}]})
    execution_id = derived_id(EXECUTION_PREFIX, caller.tenant, caller.actor, "smoke", key)
    target, input_id = None, None
    if body.target is not None:
        agent_id, reasoner = parse_target(body.target)
        target = await agent_target(db, caller.tenant, agent_id, reasoner, settings, refuse_stale=True)
        input_id = derived_id(ARTIFACT_PREFIX, execution_id, "input")
        await store.put_artifact(db, artifact_id=input_id, workspace_id=caller.tenant, kind="payload",
                                 content=json.dumps(body.input or {}, separators=(",", ":")).encode(),
                                 execution_id=execution_id)
    await db.commit()
    queue = platform_queue(settings)
    smoke = SmokeInput(execution_id=execution_id, workspace_id=caller.tenant, target=target,
                       input_artifact_id=input_id, created_by=caller.actor, correlation_id=caller.correlation_id)
    start = temporal_calls.WorkflowStart(WorkflowName.PLATFORM_SMOKE, smoke, {
        "id": execution_workflow_id(queue, caller.tenant, execution_id), "task_queue": queue,
        "id_reuse_policy": WorkflowIDReusePolicy.REJECT_DUPLICATE})
    began = time.monotonic()
    try:
        result = await temporal_calls.run_workflow(temporal, start, timeout=SMOKE_WAIT_SECONDS,
                                                   result_type=SmokeResult)
    except ApiError as error:
        if error.code != "no_worker":
            raise
        waited = int((time.monotonic() - began) * 1000)
        return SmokeAnswer(status="failed", executionId=execution_id, durationMs=waited, checks=[SmokeCheckPublic(
            name="worker", status="failed", durationMs=waited,
            detail=f"no worker answered on {queue} within {SMOKE_WAIT_SECONDS:.0f}s")])
    return SmokeAnswer(status=result.status, executionId=result.execution_id, durationMs=result.duration_ms,
                       checks=[SmokeCheckPublic(name=check.name, status=check.status, durationMs=check.duration_ms,
                                                detail=check.detail) for check in result.checks])
