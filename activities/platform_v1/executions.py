"""The activities of ``AgentExecutionWorkflow``: its record writes and the agent call.

Thin over ``integrations``: the record writes are ``integrations.stores.platform_executions``, the call is
``integrations.agent_nodes``. The call reads what the workflow passes only by id (the input artifact, the
``agents.token`` secret) and stores the output as an artifact, so the history holds neither.
"""

from __future__ import annotations

import json
import time

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.common.heartbeat import activity_heartbeat
from activities.common.records import records_activity
from capstan.db import SessionFactory, session_scope
from capstan.secrets import SecretBox
from integrations.agent_nodes import AgentRequest, agent_http_client, call_reasoner
from integrations.stores import platform_executions as store
from integrations.stores.platform_secrets import read_workspace_secret
from models.common.base import iso_z, utcnow
from models.platform_v1.executions import ARTIFACT_PREFIX, derived_id
from models.platform_v1.workflow_io import (
    AGENT_TOKEN_SECRET,
    INVALID_TRANSITION,
    ActivityName,
    AgentCall,
    AttemptResult,
    CallOutcome,
    EndedWrite,
    QueuedWrite,
    Registered,
    RunningWrite,
    SmokeCheck,
    SmokeRecord,
)


def evidence_of(write: EndedWrite) -> bytes:
    """The evidence artifact: who was called, each try, the callback, the Temporal run (no payload)."""
    target = write.target
    evidence = {
        "executionId": write.execution_id, "target": target.name if target else None,
        "agent": {"id": target.agent_id, "baseUrl": target.base_url, "version": target.version} if target else None,
        "attempts": [{"attempt": a.attempt, "startedAt": iso_z(a.started_at), "durationMs": a.duration_ms,
                      "httpStatus": a.http_status, "error": a.error} for a in write.attempts],
        "callback": {"deliveryId": write.callback.delivery_id, "receivedAt": iso_z(write.callback.received_at)}
        if write.callback is not None else None,
        "temporal": {"workflowId": write.workflow_id, "runId": write.run_id},
    }
    return json.dumps(evidence, separators=(",", ":")).encode()


class ExecutionActivities:
    def __init__(self, sessions: SessionFactory, box: SecretBox) -> None:
        self.sessions = sessions
        self.box = box

    @records_activity(ActivityName.RECORD_EXECUTION_QUEUED)
    async def record_platform_execution_queued(self, write: QueuedWrite) -> Registered:
        try:
            async with session_scope(self.sessions) as session:
                row = await store.record_queued(session, write)
        except store.TransitionRefused as refused:
            raise ApplicationError(f"the execution is {refused.current}", {"currentStatus": refused.current},
                                   type=INVALID_TRANSITION, non_retryable=True) from None
        return Registered(execution_id=row.id, status=row.status, ended=False)

    @records_activity(ActivityName.RECORD_EXECUTION_RUNNING)
    async def record_platform_execution_running(self, write: RunningWrite) -> bool:
        async with session_scope(self.sessions) as session:
            return await store.record_running(session, write)

    @records_activity(ActivityName.RECORD_EXECUTION_ENDED)
    async def record_platform_execution_ended(self, write: EndedWrite) -> bool:
        """The record's one ending, its evidence and its ``workflow.completed`` event, in one transaction."""
        evidence_id = derived_id(ARTIFACT_PREFIX, write.execution_id, write.run_id, "evidence")
        async with session_scope(self.sessions) as session:
            row = await store.record_ended(session, write, evidence_id, evidence_of(write))
            if row is None:
                return False
            await store.write_completed_event(session, row)
        return True

    @records_activity(ActivityName.SMOKE_DATABASE)
    async def check_platform_smoke_database(self, record: SmokeRecord) -> SmokeCheck:
        """Write the smoke execution's record ``running`` and read it back in another transaction."""
        clock = time.monotonic()
        async with session_scope(self.sessions) as session:
            await store.record_smoke_running(session, record)
        async with session_scope(self.sessions) as session:
            row = await store.execution_of(session, record.run.execution_id, record.run.workspace_id)
        passed = row is not None and row.run_id == record.run_id
        return SmokeCheck(name="database", status="passed" if passed else "failed",
                          duration_ms=int((time.monotonic() - clock) * 1000),
                          detail="wrote and read back the execution's record" if passed
                          else "the record written was not read back")

    @activity.defn(name=ActivityName.CALL_AGENT)
    async def call_platform_agent(self, call: AgentCall) -> AttemptResult:
        """One try of the agent call: never raises for what the agent answered (the workflow decides)."""
        async with session_scope(self.sessions) as session:
            artifact = await store.artifact_of(session, call.workspace_id, call.input_artifact_id)
            token = await read_workspace_secret(session, self.box, call.workspace_id, AGENT_TOKEN_SECRET)
        if artifact is None:
            raise ApplicationError("the execution's input artifact is gone", type="input_missing",
                                   non_retryable=True)
        started, clock = utcnow(), time.monotonic()
        request = AgentRequest(base_url=call.target.base_url, reasoner=call.target.reasoner, body=artifact.content,
                               execution_id=call.execution_id, workspace_id=call.workspace_id,
                               correlation_id=call.correlation_id, attempt=call.attempt, token=token,
                               timeout_seconds=call.target.timeout_seconds)
        async with agent_http_client() as client:
            answer = await call_reasoner(client, request, activity_heartbeat)
        output_id = None
        if answer.outcome == CallOutcome.OUTPUT and answer.body is not None:
            output_id = derived_id(ARTIFACT_PREFIX, call.execution_id, call.run_id, str(call.attempt), "output")
            async with session_scope(self.sessions) as session:
                await store.put_artifact(session, artifact_id=output_id, workspace_id=call.workspace_id,
                                         kind="payload", content=answer.body, execution_id=call.execution_id)
        return AttemptResult(attempt=call.attempt, outcome=answer.outcome, started_at=started,
                             duration_ms=int((time.monotonic() - clock) * 1000), http_status=answer.http_status,
                             error=answer.error, output_artifact_id=output_id)
