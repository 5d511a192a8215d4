"""Reading and changing a task execution's records: the one place its status moves.

A run is recorded by its workflow's ``enqueue`` Update (``integrations.stores.task_runs.record_enqueue``).
A transition updates the execution and mirrors it on the task (status, timestamps, summary, a log
line) in one transaction, only when ``can_transition`` allows it; a retried write finds the
execution already there and changes nothing. A status set by hand is recorded on the task only,
and only while no run works on it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import activity
from temporalio.exceptions import ApplicationError

from capstan.db import SessionFactory
from integrations.stores.db_errors import refuses_bad_records
from integrations.stores.task_runs import (
    AlreadyRunning,
    DuplicateRequest,
    NotRetryable,
    active_execution,
    execution_and_task,
    record_enqueue,
)
from models.common.base import utcnow
from models.tasks.ids import branch_name
from models.tasks.requests import EnqueuedRun, EnqueueRecord, ManualStatusChange, ResultArrival
from models.tasks.status import TERMINAL_STATUSES, TaskPriority, TaskStatus, can_transition
from models.tasks.tables import CodingTaskRow, TaskExecutionRow
from models.tasks.views import log_line
from models.tasks.workflow_io import ActivityName, Refusal, Transition

_LOG_LEVEL = {TaskStatus.QUEUED: "info", TaskStatus.RUNNING: "info", TaskStatus.SUCCESS: "success",
              TaskStatus.FAILED: "error", TaskStatus.TIMED_OUT: "error", TaskStatus.STOPPED: "warning"}


def apply_transition(execution: TaskExecutionRow, task: CodingTaskRow, transition: Transition,
                     now: datetime) -> bool:
    """Move ``execution`` (and its task's mirror) to the transition's status; ``False`` when the
    status may not move there (already applied, or already terminal)."""
    current = TaskStatus(execution.status)
    if not can_transition(current, transition.status):
        return False
    execution.status = transition.status
    execution.summary = transition.summary
    execution.updated_at = now
    if transition.status == TaskStatus.RUNNING:
        execution.started_at = now
        execution.runner_ref = transition.runner_ref
    if transition.status in TERMINAL_STATUSES:
        execution.completed_at = now
        execution.failure_stage = transition.failure_stage
        execution.error_message = transition.error
    for name in ("commit_hash", "pr_url", "pr_number"):
        if (value := getattr(transition, name)) is not None:
            setattr(execution, name, value)
    if (result := transition.result) is not None:
        execution.callback_attempts = result.callback_attempt
        execution.callback_max_attempts = result.callback_max_attempts
        execution.callback_last_http_code = result.callback_last_http_code
    if task.execution_id == execution.id:
        task.status, task.summary = execution.status, transition.summary
        task.started_at, task.completed_at = execution.started_at, execution.completed_at
        task.updated_at = now
        task.logs = [*task.logs, log_line(now, _LOG_LEVEL[transition.status], transition.summary)]
    return True


def task_running(task_id: str) -> ApplicationError:
    return ApplicationError(f"a run of {task_id} is queued or running", {"taskId": task_id},
                            type=Refusal.ALREADY_RUNNING, non_retryable=True)


def refused_enqueue(error: AlreadyRunning | DuplicateRequest | NotRetryable) -> ApplicationError:
    """Why a run may not start, as the ``enqueue`` Update's refusal the API answers by its type."""
    if isinstance(error, AlreadyRunning):
        return task_running(error.task_id)
    if isinstance(error, DuplicateRequest):
        return ApplicationError(str(error), {"taskId": error.task_id}, type=Refusal.DUPLICATE_REQUEST,
                                non_retryable=True)
    return ApplicationError(str(error), {"status": error.status}, type=Refusal.NOT_RETRYABLE, non_retryable=True)


class TaskRecords:
    def __init__(self, sessions: SessionFactory, handle: str) -> None:
        self.sessions = sessions
        self.handle = handle

    @activity.defn(name=ActivityName.LOAD_EXECUTION)
    async def load_task_execution(self, execution_id: str) -> dict[str, Any]:
        """The execution as runs started before the ``enqueue`` Update read it (``EnqueuedRun.from_loaded``)."""
        async with self.sessions() as session:
            found = await execution_and_task(session, execution_id)
        if found is None:
            # Such runs were started just before the API committed the execution: tried again shortly.
            raise ApplicationError(f"execution {execution_id} is not recorded", type="ExecutionNotRecorded")
        execution, task = found
        return {"execution_id": execution.id, "task_id": task.id, "repo_owner": task.repo_owner,
                "repo_name": task.repo_name, "issue_number": task.issue_number, "issue_title": task.issue_title,
                "issue_body": task.issue_body, "clone_url": task.clone_url, "base_branch": execution.base_branch,
                "branch": execution.branch, "agent": execution.agent, "priority": execution.priority,
                "instructions": execution.instructions, "comment_id": execution.comment_id}

    @activity.defn(name=ActivityName.RECORD_ENQUEUE)
    @refuses_bad_records
    async def record_task_enqueue(self, record: EnqueueRecord) -> EnqueuedRun:
        """The task, its queued execution and the delivery, in one transaction; refused (by type) when a
        run is active, the comment started one before, or a retried task succeeded meanwhile."""
        try:
            async with self.sessions() as session:
                return await record_enqueue(session, record, branch_name(self.handle, record.execution_id),
                                            utcnow())
        except (AlreadyRunning, DuplicateRequest, NotRetryable) as error:
            raise refused_enqueue(error) from None

    @activity.defn(name=ActivityName.RECORD_RESULT)
    @refuses_bad_records
    async def record_task_result(self, arrival: ResultArrival) -> bool:
        """The run took its runner's result: when (shown with the callback's warnings) and what it said."""
        async with self.sessions() as session, session.begin():
            execution = await session.get(TaskExecutionRow, arrival.execution_id, with_for_update=True)
            if execution is None or execution.result_received_at is not None:
                return False
            execution.result_received_at = utcnow()
            execution.callback_attempts = arrival.callback_attempt
            execution.callback_max_attempts = arrival.callback_max_attempts
            execution.callback_last_http_code = arrival.callback_last_http_code
            session.add(execution)
        return True

    @activity.defn(name=ActivityName.RECORD_MANUAL_STATUS)
    @refuses_bad_records
    async def record_manual_task_status(self, change: ManualStatusChange) -> bool:
        """The status, summary, agent and priority set by hand, on the task; refused while a run works."""
        async with self.sessions() as session, session.begin():
            task = await session.get(CodingTaskRow, change.task_id, with_for_update=True)
            if task is None:
                raise ApplicationError(f"task {change.task_id} not found", type=Refusal.TASK_NOT_FOUND,
                                       non_retryable=True)
            if await active_execution(session, task.id) is not None:
                raise task_running(task.id)
            now = utcnow()
            task.status, task.summary = change.status, change.summary
            task.agent = change.agent or task.agent
            task.priority = (change.priority or TaskPriority.parse(task.priority)).value
            task.updated_at = now
            task.logs = [*task.logs, log_line(now, "info", f"Status set by hand: {change.summary}")]
            session.add(task)
        return True

    @activity.defn(name=ActivityName.RECORD_TRANSITION)
    @refuses_bad_records
    async def record_task_transition(self, transition: Transition) -> bool:
        async with self.sessions() as session, session.begin():
            found = await execution_and_task(session, transition.execution_id, for_update=True)
            if found is None:
                return False
            execution, task = found
            applied = apply_transition(execution, task, transition, utcnow())
            if applied:
                session.add(execution)
                session.add(task)
        return applied

