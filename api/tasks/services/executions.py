"""Accepting a run of a task: the task, its execution and (for a comment) the delivery recorded in one
transaction, the workflow started before it commits.

Two requests for one task race on the partial unique index of active executions; two copies of one
delivery on the delivery's primary key: Postgres decides, never a read-then-write. A start Temporal
refuses rolls everything back (503), so no execution waits for a workflow that never ran. The
workflow's first step may run before the commit: it reads again until the execution appears, and a
commit that fails after the start leaves a workflow whose first step finds no execution and ends.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.common.temporal_calls import unavailable
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.common.base import utcnow
from models.tasks.comments import QUEUED_SUMMARY
from models.tasks.ids import branch_name, new_execution_id
from models.tasks.status import ACTIVE_STATUSES, TaskStatus
from models.tasks.tables import CodingTaskRow, TaskDeliveryRow, TaskExecutionRow
from models.tasks.views import log_line
from models.tasks.workflow_io import CodingTaskInput, WorkflowName, coding_task_workflow_id


class AlreadyRunning(Exception):  # noqa: N818 - named for the state it reports
    def __init__(self, execution: TaskExecutionRow) -> None:
        super().__init__(execution.id)
        self.execution = execution


class DuplicateDelivery(Exception):  # noqa: N818
    def __init__(self, task_id: str) -> None:
        super().__init__(task_id)
        self.task_id = task_id


@dataclass
class TaskRequest:
    """Who asked for which run of which issue."""

    task_id: str
    repo_owner: str
    repo_name: str
    issue_number: int
    issue_title: str
    issue_body: str
    issue_url: str | None
    created_by: str | None
    requested_by: str | None
    requester_user_id: int | None
    source: str
    installation_id: int | None
    clone_url: str
    default_branch: str
    agent: str
    priority: str
    instructions: str
    comment_id: int | None = None


def tasks_queue(settings: Settings) -> str:
    return surface_task_queue(settings.temporal, WorkerSurfaceName.TASKS)


def workflow_id(settings: Settings, execution_id: str) -> str:
    return coding_task_workflow_id(tasks_queue(settings), execution_id)


async def active_execution(db: AsyncSession, task_id: str) -> TaskExecutionRow | None:
    return (await db.exec(select(TaskExecutionRow).where(
        TaskExecutionRow.task_id == task_id, col(TaskExecutionRow.status).in_(list(ACTIVE_STATUSES))))).first()


async def delivery_task(db: AsyncSession, delivery_id: str) -> str | None:
    row = await db.get(TaskDeliveryRow, delivery_id)
    return row.task_id if row else None


async def enqueue_execution(db: AsyncSession, temporal: Client, settings: Settings, request: TaskRequest,
                            delivery_id: str | None = None) -> TaskExecutionRow:
    """Record a queued execution of the task and start its workflow; ``AlreadyRunning`` when one is
    queued or running, ``DuplicateDelivery`` when the delivery was accepted before."""
    now = utcnow()
    execution = TaskExecutionRow(
        id=new_execution_id(), task_id=request.task_id, status=TaskStatus.QUEUED, agent=request.agent,
        priority=request.priority, instructions=request.instructions, base_branch=request.default_branch,
        comment_id=request.comment_id, runner=settings.tasks.runner, queued_at=now, updated_at=now, branch="")
    execution.branch = branch_name(settings.tasks.handle, execution.id)
    try:
        task = await db.get(CodingTaskRow, request.task_id, with_for_update=True)
        if task is None:
            task = CodingTaskRow(id=request.task_id, created_at=now, logs=[], status=TaskStatus.QUEUED,
                                 agent=request.agent, priority=request.priority, source=request.source,
                                 repo_owner=request.repo_owner, repo_name=request.repo_name,
                                 issue_number=request.issue_number, clone_url=request.clone_url)
        elif (running := await active_execution(db, request.task_id)) is not None:
            # A copy of this delivery may have started it since the caller looked: that copy's answer.
            if delivery_id is not None and (seen := await delivery_task(db, delivery_id)) is not None:
                raise DuplicateDelivery(seen)
            raise AlreadyRunning(running)
        for name in ("repo_owner", "repo_name", "issue_number", "issue_title", "issue_body", "issue_url",
                     "requested_by", "requester_user_id", "source", "installation_id", "clone_url",
                     "default_branch", "agent", "priority"):
            setattr(task, name, getattr(request, name))
        task.created_by = task.created_by or request.created_by
        task.execution_id, task.status, task.branch = execution.id, TaskStatus.QUEUED, execution.branch
        task.summary, task.queued_at, task.started_at, task.completed_at = QUEUED_SUMMARY, now, None, None
        task.updated_at = now
        task.logs = [*task.logs, log_line(now, "info", QUEUED_SUMMARY)]
        db.add(task)
        await db.flush()
        db.add(execution)
        if delivery_id is not None:
            db.add(TaskDeliveryRow(delivery_id=delivery_id, task_id=request.task_id, execution_id=execution.id))
        await db.flush()
    except IntegrityError as error:
        await db.rollback()
        if delivery_id is not None and (seen := await delivery_task(db, delivery_id)) is not None:
            raise DuplicateDelivery(seen) from None
        if (running := await active_execution(db, request.task_id)) is not None:
            raise AlreadyRunning(running) from None
        raise error
    try:
        await temporal.start_workflow(
            WorkflowName.CODING_TASK,
            CodingTaskInput(execution_id=execution.id, task_id=request.task_id, runner=settings.tasks.runner,
                            watchdog_seconds=settings.tasks.watchdog_seconds,
                            heartbeat_seconds=settings.temporal.activity_heartbeat_seconds),
            id=workflow_id(settings, execution.id), task_queue=tasks_queue(settings),
            memo={"taskId": request.task_id})
    except (RPCError, RuntimeError) as error:
        await db.rollback()
        raise unavailable(f"the workflow service is unavailable; try again ({type(error).__name__})") from None
    await db.commit()
    return execution
