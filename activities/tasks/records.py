"""Reading and changing a task execution's records: the one place its status moves.

A transition updates the execution and mirrors it on the task (status, timestamps, summary, a log
line) in one transaction, only when ``can_transition`` allows it; a retried write finds the
execution already there and changes nothing.
"""

from __future__ import annotations

from datetime import datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.exceptions import ApplicationError

from capstan.db import SessionFactory
from integrations.stores.db_errors import refuses_bad_records
from models.common.base import utcnow
from models.tasks.status import TERMINAL_STATUSES, TaskStatus, can_transition
from models.tasks.tables import CodingTaskRow, TaskExecutionRow
from models.tasks.views import log_line
from models.tasks.workflow_io import ActivityName, ExecutionContext, Transition

_LOG_LEVEL = {TaskStatus.QUEUED: "info", TaskStatus.RUNNING: "info", TaskStatus.SUCCESS: "success",
              TaskStatus.FAILED: "error", TaskStatus.TIMED_OUT: "error", TaskStatus.STOPPED: "warning"}


async def execution_and_task(session: AsyncSession, execution_id: str,
                             for_update: bool = False) -> tuple[TaskExecutionRow, CodingTaskRow] | None:
    query = (select(TaskExecutionRow, CodingTaskRow).join(CodingTaskRow, CodingTaskRow.id == TaskExecutionRow.task_id)
             .where(TaskExecutionRow.id == execution_id))
    if for_update:
        query = query.with_for_update()
    row = (await session.exec(query)).first()
    return (row[0], row[1]) if row else None


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


class TaskRecords:
    def __init__(self, sessions: SessionFactory) -> None:
        self.sessions = sessions

    @activity.defn(name=ActivityName.LOAD_EXECUTION)
    async def load_task_execution(self, execution_id: str) -> ExecutionContext:
        async with self.sessions() as session:
            found = await execution_and_task(session, execution_id)
        if found is None:
            # The API starts the workflow just before it commits the execution: tried again shortly.
            raise ApplicationError(f"execution {execution_id} is not recorded", type="ExecutionNotRecorded")
        execution, task = found
        return ExecutionContext(
            execution_id=execution.id, task_id=task.id, repo_owner=task.repo_owner, repo_name=task.repo_name,
            issue_number=task.issue_number, issue_title=task.issue_title, issue_body=task.issue_body,
            clone_url=task.clone_url, base_branch=execution.base_branch, branch=execution.branch,
            agent=execution.agent, priority=execution.priority, instructions=execution.instructions,
            comment_id=execution.comment_id)

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

