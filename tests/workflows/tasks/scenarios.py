"""``CodingTaskWorkflow`` and ``TaskStatusChangeWorkflow`` driven with stub activities, the way the API
drives them (a comment's run started with its request in its input, update-with-start of ``enqueue``,
the ``complete`` and ``stop`` Updates, ``set_status``): the scenarios their tests check and their replay
test records.

``python -m tests.workflows.tasks.scenarios`` records ``histories/*.json`` anew: only for a deliberate
change of the workflows' commands, once no running workflow can meet the old code path (else guard the
change with ``workflow.patched``); ``python -m tests.workflows.tasks.scenarios <name> …`` records only
the scenarios named (a new one). ``histories/before-enqueue/`` holds runs recorded before the
``enqueue`` Update (the API then recorded the execution and started the workflow, and the result was a
Signal): they are never re-recorded, and prove such runs still replay.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from temporalio.client import Client, WithStartWorkflowOperation, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.tasks.requests import EnqueuedRun, EnqueueRun, ManualStatusChange
from models.tasks.status import RunnerKind, TaskStatus
from models.tasks.workflow_io import CodingTaskInput, RunnerResult, UpdateName, WorkflowName
from tests.workflows.replay_support import record_scenarios
from tests.workflows.tasks.stubs import (
    TaskStubs,
    comment_request,
    dashboard_request,
    intake_input,
    manual_change,
    task_input,
)
from worker.main import SANDBOX
from workflows.tasks import TASK_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"
BEFORE_ENQUEUE = HISTORIES / "before-enqueue"
WAIT_SECONDS = 30.0
SUCCESS = RunnerResult(status=TaskStatus.SUCCESS, summary="Agent completed successfully.", commit_hash="abc1234",
                       branch="capstan/x", callback_attempt=2, callback_max_attempts=5, callback_last_http_code=502)


@dataclass
class TaskRun:
    client: Client
    stubs: TaskStubs
    handle: WorkflowHandle
    #: The ``enqueue`` Update's answer, or its refusal (neither for a comment's run: it takes no Update).
    recorded: EnqueuedRun | None
    refusal: ApplicationError | None

    async def report(self, result: RunnerResult = SUCCESS) -> None:
        """What the callback route does once the runner posts its result; the runner then exits."""
        await asyncio.wait_for(self.stubs.runner_started.wait(), WAIT_SECONDS)
        await self.handle.execute_update(UpdateName.COMPLETE, result)
        self.stubs.result_arrived.set()

    async def stop(self) -> str:
        """What ``POST /api/tasks/{id}/stop`` does: the ``stop`` Update, answered once the end is recorded."""
        return await self.handle.execute_update(UpdateName.STOP, result_type=str)

    async def result(self) -> str:
        return await asyncio.wait_for(self.handle.result(), WAIT_SECONDS)


def refusal_of(error: WorkflowUpdateFailedError) -> ApplicationError:
    assert isinstance(error.cause, ApplicationError), error.cause
    return error.cause


@contextlib.asynccontextmanager
async def tasks_worker(client: Client, stubs: TaskStubs) -> AsyncIterator[str]:
    """A worker of the tasks workflows on a queue of its own (no cache: every task replays the history)."""
    queue = f"task-workflow-{uuid.uuid4().hex[:12]}"
    async with Worker(client, task_queue=queue, workflows=TASK_WORKFLOWS, activities=stubs.activities,
                      workflow_runner=SANDBOX, max_cached_workflows=0,
                      max_heartbeat_throttle_interval=timedelta(milliseconds=200)):
        yield queue


@contextlib.asynccontextmanager
async def task_run(client: Client, stubs: TaskStubs, request: CodingTaskInput | None = None,
                   order: EnqueueRun | None = None) -> AsyncIterator[TaskRun]:
    """The run started as the API starts it: a comment's with its request in the input (``intake``), any
    other by update-with-start of ``enqueue``."""
    request = request or task_input()
    async with tasks_worker(client, stubs) as queue:
        if request.intake is not None:
            handle = await client.start_workflow(WorkflowName.CODING_TASK, request, id=f"{queue}:task",
                                                 task_queue=queue, result_type=str,
                                                 id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE)
            yield TaskRun(client, stubs, handle, None, None)
            return
        start = WithStartWorkflowOperation(WorkflowName.CODING_TASK, request, id=f"{queue}:task",
                                           task_queue=queue, id_conflict_policy=WorkflowIDConflictPolicy.FAIL,
                                           result_type=str)
        recorded, refusal = None, None
        try:
            recorded = await client.execute_update_with_start_workflow(
                UpdateName.ENQUEUE, order or comment_request(), start_workflow_operation=start,
                result_type=EnqueuedRun)
        except WorkflowUpdateFailedError as error:
            refusal = refusal_of(error)
        yield TaskRun(client, stubs, await start.workflow_handle(), recorded, refusal)


async def set_status(client: Client, stubs: TaskStubs, change: ManualStatusChange | None = None
                     ) -> tuple[WorkflowHandle, ApplicationError | None]:
    """What ``PUT /api/tasks/{id}/status`` does: update-with-start of ``set_status`` on a short workflow."""
    async with tasks_worker(client, stubs) as queue:
        start = WithStartWorkflowOperation(WorkflowName.TASK_STATUS_CHANGE, "acme/widgets#11",
                                           id=f"{queue}:task-status", task_queue=queue,
                                           id_conflict_policy=WorkflowIDConflictPolicy.FAIL, result_type=str)
        refusal = None
        try:
            await client.execute_update_with_start_workflow(UpdateName.SET_STATUS, change or manual_change(),
                                                            start_workflow_operation=start)
        except WorkflowUpdateFailedError as error:
            refusal = refusal_of(error)
        handle = await start.workflow_handle()
        await asyncio.wait_for(handle.result(), WAIT_SECONDS)
        return handle, refusal


async def _runner_started(run: TaskRun) -> None:
    await asyncio.wait_for(run.stubs.runner_started.wait(), WAIT_SECONDS)


async def succeeds(run: TaskRun) -> None:
    await run.report()


async def is_stopped(run: TaskRun) -> None:
    await _runner_started(run)
    assert await run.stop() == TaskStatus.STOPPED


async def is_cancelled(run: TaskRun) -> None:
    """The operator cancels the workflow in the Web UI: a stop too."""
    await _runner_started(run)
    await run.handle.cancel()


async def is_refused(run: TaskRun) -> None:
    assert run.refusal is not None and run.refusal.type == "already_running"


async def ends_quietly(run: TaskRun) -> None:
    """A comment's run whose first step Postgres refused: nothing recorded, nothing announced."""
    assert await run.result() == "not_enqueued"
    assert run.stubs.transitions == [] and run.stubs.announced == []


#: name → (stubs, input, the enqueued request (unused when the input holds the comment), what the test does
#: while it runs, its final status)
SCENARIOS: dict[str, tuple[Callable[[], TaskStubs], Callable[[], CodingTaskInput], Callable[[], EnqueueRun],
                           Callable[[TaskRun], Awaitable[None]], str]] = {
    "success": (TaskStubs, task_input, comment_request, succeeds, "success"),
    "timed-out": (lambda: TaskStubs(runner="hangs"), lambda: task_input(watchdog_seconds=2), comment_request,
                  _runner_started, "timed_out"),
    "stopped": (lambda: TaskStubs(runner="hangs"), task_input, comment_request, is_stopped, "stopped"),
    "cancelled": (lambda: TaskStubs(runner="hangs"), task_input, comment_request, is_cancelled, "stopped"),
    "fly-success": (TaskStubs, lambda: task_input(runner=RunnerKind.FLY), comment_request, succeeds, "success"),
    "dashboard-success": (TaskStubs, task_input, dashboard_request, succeeds, "success"),
    "refused": (lambda: TaskStubs(refuse="already_running"), task_input, comment_request, is_refused,
                "not_enqueued"),
    "comment-intake": (TaskStubs, intake_input, comment_request, succeeds, "success"),
    "comment-intake-refused": (lambda: TaskStubs(refuse="already_running"), intake_input, comment_request,
                               ends_quietly, "not_enqueued"),
}
#: The manual status's short workflow, recorded beside the runs.
STATUS_CHANGE = "status-change"


async def run_scenarios(client: Client, names: list[str] | None = None) -> dict[str, tuple[str, str]]:
    """Each scenario once (or those of ``names``): name → (workflow id, run id)."""
    runs = {}
    for name, (stubs, request, order, drive, expected) in SCENARIOS.items():
        if names is not None and name not in names:
            continue
        async with task_run(client, stubs(), request(), order()) as run:
            await drive(run)
            assert await run.result() == expected, name
            runs[name] = (run.handle.id, (await run.handle.describe()).run_id)
    if names is None or STATUS_CHANGE in names:
        handle, refusal = await set_status(client, TaskStubs())
        assert refusal is None
        runs[STATUS_CHANGE] = (handle.id, (await handle.describe()).run_id)
    return runs


if __name__ == "__main__":
    asyncio.run(record_scenarios(functools.partial(run_scenarios, names=sys.argv[1:] or None), HISTORIES))
