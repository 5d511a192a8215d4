"""The coding tasks' runs as the API reaches them: every call goes to a run's workflow, through
``api.common.temporal_calls``, and is answered once the workflow recorded it.

- **Accepting a run** (a comment, ``POST /api/tasks``, a retry): a new execution id, and its
  ``CodingTaskWorkflow`` started with its first Update, ``enqueue``, carrying the ``TaskRequest``. The
  workflow reads GitHub when it must (with the requesting user's token), records the task, the
  execution and the delivery in one transaction where Postgres decides every race, and answers the
  recorded execution, or a refusal this module turns into an answer by its type.
- **Stop** is the ``stop`` Update, **the runner's result** the ``complete`` Update: both only on a
  run whose workflow is open; a run whose workflow has closed is answered from its record.
- **A status set by hand** is the ``set_status`` Update of a short ``TaskStatusChange`` workflow.

The API creates no run record and changes no status; it holds no row lock, and gives its database
connection back before any of these calls (the reads it answered from are committed).
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.exceptions import ApplicationError

from api.common.errors import ApiError, BadRequest, Conflict, NotFound
from api.common.temporal_calls import (
    Client,
    Refusals,
    UpdateOutcome,
    WorkflowStart,
    start_with_update,
    update_if_running,
)
from api.tasks.services.github_refusals import github_error_of
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.common.records import RECORD_REJECTED_ERROR
from models.tasks.ids import new_execution_id
from models.tasks.requests import EnqueuedRun, EnqueueRun, ManualStatusChange
from models.tasks.workflow_io import (
    CodingTaskInput,
    Refusal,
    RunnerResult,
    UpdateName,
    WorkflowName,
    coding_task_workflow_id,
    task_status_change_workflow_id,
)

TASK_RUNNING = "a run of this task is queued or running"


class RunRefused(Exception):  # noqa: N818 - each subclass is named for the state it reports
    """A run the workflow would not take: the intake answers these, the dashboard turns them into 409s."""

    def __init__(self, task_id: str | None) -> None:
        super().__init__(task_id)
        self.task_id = task_id


class AlreadyRunning(RunRefused):
    pass


class DuplicateRequest(RunRefused):
    pass


class ResultRefused(Exception):  # noqa: N818
    """The run already has a result, or has ended: a duplicate callback changes nothing."""


def tasks_queue(settings: Settings) -> str:
    return surface_task_queue(settings.temporal, WorkerSurfaceName.TASKS)


def workflow_id(settings: Settings, execution_id: str) -> str:
    return coding_task_workflow_id(tasks_queue(settings), execution_id)


def _detail(error: ApplicationError, name: str) -> Any:
    first = error.details[0] if error.details else None
    return first.get(name) if isinstance(first, dict) else None


def _record_rejected(error: ApplicationError) -> ApiError:
    return BadRequest(error.message, code="record_rejected")


#: How the intake answers a refused ``enqueue``: ``RunRefused`` it turns into a webhook answer.
INTAKE_REFUSALS: Refusals = {
    Refusal.ALREADY_RUNNING: lambda error: AlreadyRunning(_detail(error, "taskId")),
    Refusal.DUPLICATE_REQUEST: lambda error: DuplicateRequest(_detail(error, "taskId")),
    RECORD_REJECTED_ERROR: _record_rejected,
}

#: How a dashboard create or retry answers a refused ``enqueue``: 409s, and GitHub's refusal as
#: ``api.tasks.services.github_data.github_answers`` answers every GitHub failure of a user's request.
DASHBOARD_REFUSALS: Refusals = {
    Refusal.ALREADY_RUNNING: lambda error: Conflict(TASK_RUNNING, code="task_running"),
    Refusal.DUPLICATE_REQUEST: lambda error: Conflict(TASK_RUNNING, code="task_running"),
    Refusal.NOT_RETRYABLE: lambda error: Conflict("the task succeeded; there is nothing to retry",
                                                  code="not_retryable"),
    Refusal.GITHUB_REFUSED: github_error_of,
    RECORD_REJECTED_ERROR: _record_rejected,
}


async def release_connection(db: AsyncSession) -> None:
    """End the session's read-only transaction, so no connection (and no lock) is held across a Temporal
    call; loaded rows stay usable (``expire_on_commit=False``)."""
    await db.commit()


def run_start(settings: Settings, execution_id: str, task_id: str | None) -> WorkflowStart:
    return WorkflowStart(WorkflowName.CODING_TASK, CodingTaskInput(
        execution_id=execution_id, task_id=task_id, runner=settings.tasks.runner,
        watchdog_seconds=settings.tasks.watchdog_seconds,
        heartbeat_seconds=settings.temporal.activity_heartbeat_seconds), {
        "id": workflow_id(settings, execution_id), "task_queue": tasks_queue(settings), "memo": {"taskId": task_id}})


async def enqueue(db: AsyncSession, temporal: Client, settings: Settings, order: EnqueueRun,
                  refusals: Refusals) -> EnqueuedRun:
    """Start a run of ``order``'s request: its recorded execution, or the refusal ``refusals`` maps."""
    await release_connection(db)
    request = order.request
    task_id = request.task_id if request.issue_number is not None else None
    return await start_with_update(
        temporal, run_start(settings, new_execution_id(), task_id), UpdateName.ENQUEUE, [order],
        timeout=settings.temporal.update_timeout_seconds, result_type=EnqueuedRun, refusals=refusals)


async def stop_run(db: AsyncSession, temporal: Client, settings: Settings, execution_id: str,
                   refusal: Any) -> UpdateOutcome:
    """The ``stop`` Update: ``completed`` with how the run ended, ``pending`` while the stop goes on, or
    ``not_running``; a run that has ended raises ``refusal(status)``."""
    await release_connection(db)
    return await update_if_running(
        temporal, workflow_id(settings, execution_id), UpdateName.STOP, [],
        timeout=settings.temporal.update_timeout_seconds, result_type=str,
        refusals={Refusal.NOT_RUNNING: lambda error: refusal(_detail(error, "status"))})


async def report_result(db: AsyncSession, temporal: Client, settings: Settings, execution_id: str,
                        result: RunnerResult) -> UpdateOutcome:
    """The ``complete`` Update; ``ResultRefused`` when the run already has a result or has ended."""
    await release_connection(db)
    return await update_if_running(
        temporal, workflow_id(settings, execution_id), UpdateName.COMPLETE, [result],
        timeout=settings.temporal.update_timeout_seconds, result_type=type(None),
        refusals={Refusal.ALREADY_FINISHED: lambda error: ResultRefused(error.message)})


async def set_task_status(db: AsyncSession, temporal: Client, settings: Settings, change: ManualStatusChange) -> None:
    """The ``set_status`` Update of a new ``TaskStatusChange`` workflow, answered once recorded."""
    await release_connection(db)
    queue = tasks_queue(settings)
    start = WorkflowStart(WorkflowName.TASK_STATUS_CHANGE, change.task_id, {
        "id": task_status_change_workflow_id(queue, uuid.uuid4().hex), "task_queue": queue,
        "memo": {"taskId": change.task_id}})
    await start_with_update(temporal, start, UpdateName.SET_STATUS, [change],
                            timeout=settings.temporal.update_timeout_seconds, result_type=type(None), refusals={
                                Refusal.ALREADY_RUNNING: lambda error: Conflict(
                                    f"{TASK_RUNNING}; stop it first", code="task_running"),
                                Refusal.TASK_NOT_FOUND: lambda error: NotFound("task not found",
                                                                               code="task not found"),
                                Refusal.GITHUB_REFUSED: github_error_of,
                                RECORD_REJECTED_ERROR: _record_rejected})
