"""The coding tasks' run records both processes read, and the one write that accepts a run.

``record_enqueue`` is the write that accepts a run, run by the run's workflow as a local activity (in its
``enqueue`` Update, or as the first step of a comment's run): the task, its ``queued`` execution and, for
a comment, the delivery, in one transaction. Postgres decides
every race, never a read-then-write: two requests for one task meet on the partial unique index of
active executions, two copies of one delivery on its primary key, one comment under two delivery ids on
the partial unique index of comment ids. The reads before the writes only spare the common case an
aborted transaction. The write is idempotent: a retry (after a commit whose answer was lost) finds its
own execution, still ``queued``, and answers it again. A comment's execution id is derived from the
comment, so an execution of that id that has moved on is an earlier run of the same comment: a duplicate.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.tasks.comments import QUEUED_SUMMARY
from models.tasks.requests import EnqueuedRun, EnqueueRecord
from models.tasks.status import ACTIVE_STATUSES, TaskStatus
from models.tasks.tables import CodingTaskRow, TaskDeliveryRow, TaskExecutionRow
from models.tasks.views import log_line


class AlreadyRunning(Exception):  # noqa: N818 - named for the state it reports
    def __init__(self, task_id: str) -> None:
        super().__init__(f"a run of {task_id} is queued or running")
        self.task_id = task_id


class DuplicateRequest(Exception):  # noqa: N818
    """The delivery, or the comment, started a run before."""

    def __init__(self, task_id: str) -> None:
        super().__init__(f"this comment started a run of {task_id} before")
        self.task_id = task_id


class NotRetryable(Exception):  # noqa: N818
    def __init__(self, status: str) -> None:
        super().__init__("the task succeeded; there is nothing to retry")
        self.status = status


async def execution_and_task(session: AsyncSession, execution_id: str,
                             for_update: bool = False) -> tuple[TaskExecutionRow, CodingTaskRow] | None:
    query = (select(TaskExecutionRow, CodingTaskRow).join(CodingTaskRow, CodingTaskRow.id == TaskExecutionRow.task_id)
             .where(TaskExecutionRow.id == execution_id))
    if for_update:
        query = query.with_for_update()
    row = (await session.exec(query)).first()
    return (row[0], row[1]) if row else None


async def active_execution(session: AsyncSession, task_id: str) -> TaskExecutionRow | None:
    return (await session.exec(select(TaskExecutionRow).where(
        TaskExecutionRow.task_id == task_id, col(TaskExecutionRow.status).in_(list(ACTIVE_STATUSES))))).first()


async def delivery_task(session: AsyncSession, delivery_id: str) -> str | None:
    """The task a webhook delivery started a run of, if it did."""
    row = await session.get(TaskDeliveryRow, delivery_id)
    return row.task_id if row else None


async def comment_task(session: AsyncSession, comment_id: int) -> str | None:
    """The task a comment started a run of, if it did (whatever delivery brought it)."""
    return (await session.exec(select(TaskExecutionRow.task_id).where(
        TaskExecutionRow.comment_id == comment_id))).first()


async def _seen_before(session: AsyncSession, record: EnqueueRecord) -> str | None:
    if record.delivery_id is not None and (seen := await delivery_task(session, record.delivery_id)) is not None:
        return seen
    if record.request.comment_id is not None:
        return await comment_task(session, record.request.comment_id)
    return None


async def _refuse_if_busy(session: AsyncSession, task: CodingTaskRow, record: EnqueueRecord) -> None:
    if await active_execution(session, task.id) is not None:
        raise AlreadyRunning(task.id)
    if record.retry_of is not None and task.execution_id is not None:
        # The latest run may have moved on since the API looked (another retry that succeeded).
        latest = await session.get(TaskExecutionRow, task.execution_id)
        if latest is not None and latest.status == TaskStatus.SUCCESS:
            raise NotRetryable(latest.status)


async def record_enqueue(session: AsyncSession, record: EnqueueRecord, branch: str, now: datetime) -> EnqueuedRun:
    """Record ``record`` as a queued execution of its task; ``DuplicateRequest``, ``AlreadyRunning`` or
    ``NotRetryable`` when it may not run."""
    request = record.request
    answer = EnqueuedRun(execution_id=record.execution_id, branch=branch, request=request)
    try:
        async with session.begin():
            if (existing := await session.get(TaskExecutionRow, record.execution_id)) is not None:
                if existing.status == TaskStatus.QUEUED:
                    return answer  # recorded by an earlier try of this write
                raise DuplicateRequest(existing.task_id)
            if (seen := await _seen_before(session, record)) is not None:
                raise DuplicateRequest(seen)
            task = await session.get(CodingTaskRow, request.task_id, with_for_update=True)
            if task is None:
                task = CodingTaskRow(id=request.task_id, created_at=now, logs=[], created_by=request.created_by,
                                     status=TaskStatus.QUEUED, agent=request.agent, priority=request.priority,
                                     source=request.source, repo_owner=request.repo_owner,
                                     repo_name=request.repo_name, issue_number=request.issue_number,
                                     clone_url=request.clone_url)
            else:
                await _refuse_if_busy(session, task, record)
            queued_at = record.accepted_at or now
            _mirror_request(task, record, branch, queued_at, now)
            session.add(task)
            await session.flush()
            session.add(TaskExecutionRow(
                id=record.execution_id, task_id=task.id, status=TaskStatus.QUEUED, agent=request.agent,
                priority=request.priority, instructions=request.instructions, branch=branch,
                base_branch=request.default_branch, comment_id=request.comment_id, runner=record.runner,
                requested_by=request.requested_by, requester_user_id=request.requester_user_id,
                queued_at=queued_at, updated_at=now))
            if record.delivery_id is not None:
                session.add(TaskDeliveryRow(delivery_id=record.delivery_id, task_id=task.id,
                                            execution_id=record.execution_id, received_at=queued_at))
    except IntegrityError:
        async with session.begin():  # who won: a copy of this delivery or comment, or another run
            if (seen := await _seen_before(session, record)) is not None:
                raise DuplicateRequest(seen) from None
            if await active_execution(session, request.task_id) is not None:
                raise AlreadyRunning(request.task_id) from None
        raise
    return answer


def _mirror_request(task: CodingTaskRow, record: EnqueueRecord, branch: str, queued_at: datetime,
                    now: datetime) -> None:
    """The task shows its latest run: the request's issue, requester and agent, and the run queued."""
    request = record.request
    task.issue_title, task.issue_body, task.issue_url = request.issue_title, request.issue_body, request.issue_url
    task.created_by = task.created_by or request.created_by
    task.requested_by, task.requester_user_id = request.requested_by, request.requester_user_id
    task.source, task.installation_id = request.source, request.installation_id
    task.clone_url, task.default_branch = request.clone_url, request.default_branch
    task.agent, task.priority = request.agent, request.priority
    task.execution_id, task.status, task.branch = record.execution_id, TaskStatus.QUEUED, branch
    task.summary, task.queued_at, task.started_at, task.completed_at = QUEUED_SUMMARY, queued_at, None, None
    task.updated_at = now
    task.logs = [*task.logs, log_line(now, "info", QUEUED_SUMMARY)]
