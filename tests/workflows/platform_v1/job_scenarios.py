"""The job workflows (``ImportWorkflow``, ``ExportWorkflow``, ``AccountingSyncWorkflow``) driven with stub
activities: the workflow tests and the replay test's histories.

``python -m tests.workflows.platform_v1.job_scenarios`` records ``job_histories/*.json`` anew: only for a
deliberate change of the workflows' commands, once no running job can meet the old code path (else guard the
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

from models.platform_v1.job_io import (
    WORKFLOW_OF,
    AdapterAttempt,
    AdapterOutcome,
    JobActivityName,
    JobEndedWrite,
    JobQueuedWrite,
    JobRunInput,
    JobStep,
    WorkOutcome,
)
from models.platform_v1.jobs import JobErrorCode, JobType
from models.platform_v1.workflow_io import ActivityName, Registered, Registration, RunningWrite, UpdateName
from tests.workflows.replay_support import record_scenarios
from worker.main import SANDBOX
from workflows.platform_v1 import PLATFORM_V1_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "job_histories"
MOMENT = datetime(2026, 12, 8, tzinfo=UTC)
ANSWER = "art_" + "3" * 32
EXPORT_FILE = "art_" + "4" * 32


@dataclass
class StubJobActivities:
    """The job workflows' activities, scripted: each accounting call's outcome in order (default ``ok``)."""

    outcomes: deque[AdapterOutcome] = field(default_factory=deque)
    refuse_queued: str | None = None
    broken_reference: bool = False
    #: When set, the import waits for it (a job still running).
    gate: asyncio.Event | None = None
    queued: list[JobQueuedWrite] = field(default_factory=list)
    running: list[RunningWrite] = field(default_factory=list)
    ended: list[JobEndedWrite] = field(default_factory=list)
    steps: list[JobStep] = field(default_factory=list)

    @activity.defn(name=JobActivityName.RECORD_JOB_QUEUED)
    async def record_queued(self, write: JobQueuedWrite) -> Registered:
        if self.refuse_queued:
            raise ApplicationError("refused", {"currentStatus": "running"}, type=self.refuse_queued,
                                   non_retryable=True)
        self.queued.append(write)
        return Registered(execution_id=write.run.execution_id, status="queued", ended=False)

    @activity.defn(name=ActivityName.RECORD_EXECUTION_RUNNING)
    async def record_running(self, write: RunningWrite) -> bool:
        self.running.append(write)
        return True

    @activity.defn(name=JobActivityName.RECORD_JOB_ENDED)
    async def record_ended(self, write: JobEndedWrite) -> bool:
        self.ended.append(write)
        return True

    @activity.defn(name=JobActivityName.RUN_IMPORT)
    async def run_import(self, step: JobStep) -> WorkOutcome:
        self.steps.append(step)
        if self.gate is not None:
            await self.gate.wait()
        if self.broken_reference:
            return WorkOutcome(error_code=JobErrorCode.INVALID_REFERENCE,
                               error_message="records[1].clientId: no client cli_x in this workspace")
        return WorkOutcome(result={"created": 2})

    @activity.defn(name=JobActivityName.RUN_EXPORT)
    async def run_export(self, step: JobStep) -> WorkOutcome:
        self.steps.append(step)
        return WorkOutcome(result={"exported": 3}, output_artifact_id=EXPORT_FILE)

    @activity.defn(name=JobActivityName.CALL_ACCOUNTING)
    async def call_accounting(self, step: JobStep) -> AdapterAttempt:
        self.steps.append(step)
        outcome = self.outcomes.popleft() if self.outcomes else AdapterOutcome.OK
        return AdapterAttempt(attempt=step.attempt, outcome=outcome, started_at=MOMENT, duration_ms=5,
                              http_status={AdapterOutcome.OK: 200, AdapterOutcome.UNAVAILABLE: 503,
                                           AdapterOutcome.REJECTED: 401}.get(outcome),
                              error=None if outcome == AdapterOutcome.OK else f"scripted {outcome}",
                              response_artifact_id=ANSWER if outcome == AdapterOutcome.OK else None)

    @activity.defn(name=JobActivityName.APPLY_ACCOUNTING)
    async def apply_accounting(self, step: JobStep) -> WorkOutcome:
        self.steps.append(step)
        return WorkOutcome(result={"clientsSent": 1, "invoicesSent": 2, "paymentsCreated": 1, "paymentsSkipped": 0,
                                   "paymentsRejected": 0})

    @property
    def activities(self) -> list:
        return [self.record_queued, self.record_running, self.record_ended, self.run_import, self.run_export,
                self.call_accounting, self.apply_accounting]


def job_input(job_type: JobType, request: str = "req-1", max_attempts: int = 3) -> JobRunInput:
    execution_id = "wex_" + uuid.uuid4().hex
    resource = None if job_type == JobType.ACCOUNTING_SYNC else "clients"
    return JobRunInput(execution_id=execution_id, job_id="job_" + uuid.uuid4().hex, workspace_id="ws_" + "a" * 32,
                       type=job_type, resource=resource, params={"resource": resource} if resource else {},
                       input_artifact_id="art_" + "0" * 32 if job_type == JobType.IMPORT else None,
                       created_by="tester", correlation_id="corr-1", max_attempts=max_attempts, request=request)


@contextlib.asynccontextmanager
async def stub_worker(client: Client, stubs: StubJobActivities) -> AsyncIterator[str]:
    """A worker on a queue of its own, keeping no workflow in cache (every task replays the history)."""
    queue = f"platform-v1-jobs-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=PLATFORM_V1_WORKFLOWS, activities=stubs.activities,
                      workflow_runner=SANDBOX, max_cached_workflows=0):
        yield queue


async def register(client: Client, queue: str, run: JobRunInput, wait: float = 0,
                   request: str | None = None) -> tuple[WorkflowHandle, Registered]:
    """Start the job's run with its ``register`` Update, as the API does (update-with-start)."""
    start = WithStartWorkflowOperation(WORKFLOW_OF[run.type], run, id=f"{queue}:{run.execution_id}",
                                       task_queue=queue, id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                                       result_type=str)
    update = await client.start_update_with_start_workflow(
        UpdateName.REGISTER, Registration(request=request or run.request, wait_seconds=wait),
        start_workflow_operation=start, wait_for_stage=WorkflowUpdateStage.COMPLETED, result_type=Registered)
    return await start.workflow_handle(), await update.result()


async def run_scenarios(client: Client) -> dict[str, tuple[str, str]]:
    """One history per job workflow: name → (workflow id, run id)."""
    runs: dict[str, tuple[str, str]] = {}
    stubs = StubJobActivities(outcomes=deque([AdapterOutcome.UNAVAILABLE, AdapterOutcome.OK]))
    async with stub_worker(client, stubs) as queue:
        for name, job_type in (("import-succeeded", JobType.IMPORT), ("export-succeeded", JobType.EXPORT),
                               ("sync-retried-then-succeeded", JobType.ACCOUNTING_SYNC)):
            handle, _ = await register(client, queue, job_input(job_type), wait=30)
            await asyncio.wait_for(handle.result(), 30)
            runs[name] = (handle.id, handle.result_run_id)
    return runs


if __name__ == "__main__":
    asyncio.run(record_scenarios(run_scenarios, HISTORIES))
