"""``AgentExecutionWorkflow`` driven with stub activities: the workflow tests and the replay test's histories.

``python -m tests.workflows.platform_v1.execution_scenarios`` records ``execution_histories/*.json`` anew: only for
a deliberate change of the workflow's commands, once no running execution can meet the old code path (else guard the
change with ``workflow.patched``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections import deque
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from temporalio import activity
from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateStage
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.platform_v1.workflow_io import (
    INVALID_TRANSITION,
    ActivityName,
    AgentCall,
    AgentExecutionInput,
    AgentTarget,
    AttemptResult,
    CallbackReport,
    CallOutcome,
    EndedWrite,
    QueuedWrite,
    Registered,
    Registration,
    RunningWrite,
    SmokeCheck,
    SmokeInput,
    SmokeRecord,
    SmokeResult,
    UpdateName,
    WorkflowName,
)
from tests.workflows.replay_support import record_scenarios
from worker.main import SANDBOX
from workflows.platform_v1 import PLATFORM_V1_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "execution_histories"
MOMENT = datetime(2026, 12, 8, tzinfo=UTC)


@dataclass
class StubActivities:
    """The workflow's activities, scripted: each call's outcome in order (default ``output``), every write kept."""

    outcomes: deque[CallOutcome] = field(default_factory=deque)
    refuse_queued: bool = False
    queued: list[QueuedWrite] = field(default_factory=list)
    running: list[RunningWrite] = field(default_factory=list)
    ended: list[EndedWrite] = field(default_factory=list)
    calls: list[AgentCall] = field(default_factory=list)
    #: When set, the ending's write waits for it: the run stays open (ending) until the test lets it finish.
    ending_gate: asyncio.Event | None = None

    @activity.defn(name=ActivityName.RECORD_EXECUTION_QUEUED)
    async def record_queued(self, write: QueuedWrite) -> Registered:
        if self.refuse_queued:
            raise ApplicationError("the execution is running", {"currentStatus": "running"}, type=INVALID_TRANSITION,
                                   non_retryable=True)
        self.queued.append(write)
        return Registered(execution_id=write.run.execution_id, status="queued", ended=False)

    @activity.defn(name=ActivityName.RECORD_EXECUTION_RUNNING)
    async def record_running(self, write: RunningWrite) -> bool:
        self.running.append(write)
        return True

    @activity.defn(name=ActivityName.RECORD_EXECUTION_ENDED)
    async def record_ended(self, write: EndedWrite) -> bool:
        if self.ending_gate is not None:
            await self.ending_gate.wait()
        self.ended.append(write)
        return True

    @activity.defn(name=ActivityName.CALL_AGENT)
    async def call_agent(self, call: AgentCall) -> AttemptResult:
        self.calls.append(call)
        outcome = self.outcomes.popleft() if self.outcomes else CallOutcome.OUTPUT
        return AttemptResult(attempt=call.attempt, outcome=outcome, started_at=MOMENT, duration_ms=5,
                             http_status={CallOutcome.OUTPUT: 200, CallOutcome.ACCEPTED: 202,
                                          CallOutcome.UNAVAILABLE: 503, CallOutcome.REJECTED: 400}.get(outcome),
                             output_artifact_id="art_" + "1" * 32 if outcome == CallOutcome.OUTPUT else None)

    @activity.defn(name=ActivityName.SMOKE_DATABASE)
    async def smoke_database(self, record: SmokeRecord) -> SmokeCheck:
        return SmokeCheck(name="database", status="passed", duration_ms=3, detail="wrote and read back")

    @property
    def activities(self) -> list:
        return [self.record_queued, self.record_running, self.record_ended, self.call_agent, self.smoke_database]


def execution_input(request: str = "req-1", retry_count: int = 0, callback_timeout: int = 600,
                    max_attempts: int = 3) -> AgentExecutionInput:
    execution_id = "wex_" + uuid.uuid4().hex
    return AgentExecutionInput(
        execution_id=execution_id, workspace_id="ws_" + "a" * 32, mode="sync", input_artifact_id="art_" + "0" * 32,
        target=AgentTarget(agent_id="helper", reasoner="echo", base_url="http://agent.test", version="1",
                           timeout_seconds=5, callback_timeout_seconds=callback_timeout),
        created_by="tester", correlation_id="corr-1", retry_count=retry_count, max_attempts=max_attempts,
        request=request)


@contextlib.asynccontextmanager
async def stub_worker(client: Client, stubs: StubActivities) -> AsyncIterator[str]:
    """A worker on a queue of its own, keeping no workflow in cache (every task replays the history)."""
    queue = f"platform-v1-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=PLATFORM_V1_WORKFLOWS, activities=stubs.activities,
                      workflow_runner=SANDBOX, max_cached_workflows=0):
        yield queue


async def register(client: Client, queue: str, run: AgentExecutionInput, wait: float = 0,
                   request: str | None = None) -> tuple[WorkflowHandle, Registered]:
    """Start the run with its ``register`` Update, as the API does (update-with-start)."""
    start = WithStartWorkflowOperation(WorkflowName.AGENT_EXECUTION, run, id=f"{queue}:{run.execution_id}",
                                       task_queue=queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                       result_type=str)
    update = await client.start_update_with_start_workflow(
        UpdateName.REGISTER, Registration(request=request or run.request, wait_seconds=wait),
        start_workflow_operation=start, wait_for_stage=WorkflowUpdateStage.COMPLETED, result_type=Registered)
    return await start.workflow_handle(), await update.result()


def callback(completed: bool = True) -> CallbackReport:
    return CallbackReport(delivery_id="dlv-1", completed=completed,
                          output_artifact_id="art_" + "2" * 32 if completed else None,
                          error_message=None if completed else "disk full", received_at=MOMENT)


async def run_scenarios(client: Client) -> dict[str, tuple[str, str]]:
    """Each way an execution ends once: name → (workflow id, run id)."""
    runs: dict[str, tuple[str, str]] = {}
    stubs = StubActivities(outcomes=deque([CallOutcome.UNAVAILABLE, CallOutcome.OUTPUT,  # retried
                                           CallOutcome.ACCEPTED,  # callback
                                           CallOutcome.ACCEPTED]))  # cancelled while waiting
    async with stub_worker(client, stubs) as queue:
        handle, _ = await register(client, queue, execution_input(), wait=30)
        await asyncio.wait_for(handle.result(), 30)
        runs["retried-then-succeeded"] = (handle.id, handle.result_run_id)

        handle, _ = await register(client, queue, execution_input())
        await _until(lambda: len(stubs.calls) == 3)
        await handle.execute_update(UpdateName.CALLBACK, callback(), result_type=dict)
        await asyncio.wait_for(handle.result(), 30)
        runs["callback"] = (handle.id, handle.result_run_id)

        handle, _ = await register(client, queue, execution_input())
        await _until(lambda: len(stubs.calls) == 4)
        await handle.cancel()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(handle.result(), 30)
        await _until(lambda: len(stubs.ended) == 3)
        runs["cancelled"] = (handle.id, handle.result_run_id)

        smoke = execution_input()
        handle = await client.start_workflow(
            WorkflowName.PLATFORM_SMOKE, SmokeInput(execution_id=smoke.execution_id, workspace_id=smoke.workspace_id,
                                                    target=smoke.target, input_artifact_id=smoke.input_artifact_id),
            id=f"{queue}:smoke:{smoke.execution_id}", task_queue=queue, result_type=SmokeResult)
        await asyncio.wait_for(handle.result(), 30)
        runs["smoke"] = (handle.id, handle.result_run_id)
    return runs


async def _until(condition, timeout: float = 30.0) -> None:
    async with asyncio.timeout(timeout):
        while not condition():
            await asyncio.sleep(0.05)


if __name__ == "__main__":
    asyncio.run(record_scenarios(run_scenarios, HISTORIES))
