"""``CodingTaskWorkflow`` driven with stub activities: the scenarios its tests check and its replay test
records.

``python -m tests.workflows.tasks.scenarios`` records ``histories/*.json`` anew: only for a
deliberate change of the workflow's commands, once no running workflow can meet the old code path
(else guard the change with ``workflow.patched``).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WorkflowHandle
from temporalio.worker import Worker

from models.tasks.status import RunnerKind, TaskStatus
from models.tasks.workflow_io import CodingTaskInput, RunnerResult, SignalName, WorkflowName
from tests.workflows.replay_support import record_scenarios
from tests.workflows.tasks.stubs import TaskStubs, task_input
from worker.main import SANDBOX
from workflows.tasks import TASK_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"
WAIT_SECONDS = 30.0
SUCCESS = RunnerResult(status=TaskStatus.SUCCESS, summary="Agent completed successfully.", commit_hash="abc1234",
                       branch="capstan/x", callback_attempt=2, callback_max_attempts=5, callback_last_http_code=502)


@dataclass
class TaskRun:
    client: Client
    stubs: TaskStubs
    handle: WorkflowHandle

    async def report(self, result: RunnerResult = SUCCESS) -> None:
        """What the callback route does once the runner posts its result; the runner then exits."""
        await asyncio.wait_for(self.stubs.runner_started.wait(), WAIT_SECONDS)
        await self.handle.signal(SignalName.COMPLETE, result)
        self.stubs.result_arrived.set()

    async def result(self) -> str:
        return await asyncio.wait_for(self.handle.result(), WAIT_SECONDS)


@contextlib.asynccontextmanager
async def task_run(client: Client, stubs: TaskStubs, request: CodingTaskInput | None = None
                   ) -> AsyncIterator[TaskRun]:
    """The workflow started on a worker of its own queue (no cache: every task replays the history)."""
    queue = f"task-workflow-{uuid.uuid4().hex[:12]}"
    async with Worker(client, task_queue=queue, workflows=TASK_WORKFLOWS, activities=stubs.activities,
                      workflow_runner=SANDBOX, max_cached_workflows=0,
                      max_heartbeat_throttle_interval=timedelta(milliseconds=200)):
        handle = await client.start_workflow(WorkflowName.CODING_TASK, request or task_input(),
                                             id=f"{queue}:task", task_queue=queue, result_type=str)
        yield TaskRun(client, stubs, handle)


async def succeeds(run: TaskRun) -> None:
    await run.report()


async def times_out(run: TaskRun) -> None:
    await asyncio.wait_for(run.stubs.runner_started.wait(), WAIT_SECONDS)


async def is_stopped(run: TaskRun) -> None:
    await asyncio.wait_for(run.stubs.runner_started.wait(), WAIT_SECONDS)
    await run.handle.cancel()


#: name → (stubs, input, what the test does while it runs, its final status)
SCENARIOS: dict[str, tuple[Callable[[], TaskStubs], Callable[[], CodingTaskInput],
                           Callable[[TaskRun], Awaitable[None]], str]] = {
    "success": (TaskStubs, task_input, succeeds, "success"),
    "timed-out": (lambda: TaskStubs(runner="hangs"), lambda: task_input(watchdog_seconds=2), times_out, "timed_out"),
    "stopped": (lambda: TaskStubs(runner="hangs"), task_input, is_stopped, "stopped"),
    "fly-success": (TaskStubs, lambda: task_input(runner=RunnerKind.FLY), succeeds, "success"),
}


async def run_scenarios(client: Client) -> dict[str, tuple[str, str]]:
    """Each scenario once: name → (workflow id, run id)."""
    runs = {}
    for name, (stubs, request, drive, expected) in SCENARIOS.items():
        async with task_run(client, stubs(), request()) as run:
            await drive(run)
            assert await run.result() == expected, name
            runs[name] = (run.handle.id, (await run.handle.describe()).run_id)
    return runs


if __name__ == "__main__":
    asyncio.run(record_scenarios(run_scenarios, HISTORIES))
