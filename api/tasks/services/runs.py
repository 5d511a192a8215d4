"""The coding tasks' runs as the API reaches them: every call goes to a run's workflow, through
``api.common.temporal_calls``, and is answered once the workflow recorded it.

- **Accepting a comment**: its run's ``CodingTaskWorkflow`` started with the ``TaskRequest`` and the
  delivery id in its input, answered as soon as Temporal has it (no worker needed: GitHub gives up on a
  delivery after 10 s). The execution id is derived from the comment id, and a second start of that
  workflow id is refused (``REJECT_DUPLICATE``): a comment starts one run. The run records itself as
  its first step.
- **Accepting a dashboard create or retry**: a new execution id, and its ``CodingTaskWorkflow`` started
  with its first Update, ``enqueue``, carrying the ``TaskRequest``. The workflow reads GitHub when it
  must (with the requesting user's token), records the task and the execution in one transaction where
  Postgres decides every race, and answers the recorded execution, or a refusal this module turns into
  an answer by its type.
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
from temporalio.common import WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError

from api.common.errors import ApiError, BadRequest, Conflict, NotFound
from api.common.temporal_calls import (
    Client,
    Refusals,
    UpdateOutcome,
    WorkflowStart,
    start_new_workflow,
    start_with_update,
    update_if_running,
)
from api.tasks.services.github_refusals import github_error_of
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.common.records import RECORD_REJECTED_ERROR
from models.tasks.ids import comment_execution_id, new_execution_id
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
#: How long the webhook waits for Temporal to take a comment's run (GitHub gives up after 10 s).
COMMENT_START_SECONDS = 5.0


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


def run_start(settings: Settings, execution_id: str, task_id: str | None,
              intake: EnqueueRun | None = None) -> WorkflowStart:
    options: dict[str, Any] = {"id": workflow_id(settings, execution_id), "task_queue": tasks_queue(settings),
                               "memo": {"taskId": task_id}}
    if intake is not None:  # a comment's workflow id is the comment's: never a second execution of it
        options["id_reuse_policy"] = WorkflowIDReusePolicy.REJECT_DUPLICATE
    return WorkflowStart(WorkflowName.CODING_TASK, CodingTaskInput(
        execution_id=execution_id, task_id=task_id, runner=settings.tasks.runner,
        watchdog_seconds=settings.tasks.watchdog_seconds,
        heartbeat_seconds=settings.temporal.activity_heartbeat_seconds, intake=intake), options)


async def start_comment_run(db: AsyncSession, temporal: Client, settings: Settings, intake: EnqueueRun) -> bool:
    """Start the run of an accepted comment, its request in the workflow's input; answered once Temporal
    has it. ``False`` when this comment's run was started before (under whatever delivery id)."""
    await release_connection(db)
    request = intake.request
    if request.comment_id is None:
        raise ValueError("a comment's run needs the comment id")
    start = run_start(settings, comment_execution_id(request.comment_id), request.task_id, intake)
    return await start_new_workflow(temporal, start, timeout=COMMENT_START_SECONDS)


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
