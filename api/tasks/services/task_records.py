"""Reading tasks for a signed-in user: the lists, the history and one task with its executions.

Scope: the repositories of the user's installations, narrowed to ``onboarding.selectedRepos`` once
onboarding is completed (``api.tasks.services.scope``). Filters and paging run in Postgres; the
answers are the models of ``models.tasks.public``, built from the rows without a second pass.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, Text, and_, cast, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import NotFound
from api.tasks.services.scope import Scope
from models.tasks.history import HistoryQuery, ListQuery
from models.tasks.ids import TaskId
from models.tasks.public import TaskHistoryPage, TaskPublic, TaskStatusPublic
from models.tasks.tables import CodingTaskRow, TaskExecutionRow
from models.tasks.views import status_object, task_object

TASK_NOT_FOUND = "task not found"


async def _latest_executions(db: AsyncSession, tasks: list[CodingTaskRow]) -> dict[str, TaskExecutionRow]:
    ids = [task.execution_id for task in tasks if task.execution_id]
    if not ids:
        return {}
    rows = (await db.exec(select(TaskExecutionRow).where(col(TaskExecutionRow.id).in_(ids)))).all()
    return {row.id: row for row in rows}


async def _objects(db: AsyncSession, tasks: list[CodingTaskRow]) -> list[TaskPublic]:
    latest = await _latest_executions(db, tasks)
    return [task_object(task, latest.get(task.execution_id or "")) for task in tasks]


async def list_tasks(db: AsyncSession, scope: Scope, query: ListQuery) -> list[TaskPublic]:
    statement = select(CodingTaskRow).where(scope.clause())
    if query.status is not None:
        statement = statement.where(CodingTaskRow.status == query.status)
    statement = statement.order_by(col(CodingTaskRow.updated_at).desc(), col(CodingTaskRow.id)) \
        .offset(query.offset).limit(query.limit)
    return await _objects(db, list((await db.exec(statement)).all()))


def _history_filters(query: HistoryQuery) -> list[Any]:
    filters: list[Any] = []
    if query.status is not None:
        filters.append(CodingTaskRow.status == query.status)
    if query.agent is not None:
        filters.append(CodingTaskRow.agent == query.agent)
    if query.repo is not None:
        full_name = func.lower(CodingTaskRow.repo_owner + "/" + CodingTaskRow.repo_name)
        filters.append(full_name.contains(query.repo.lower(), autoescape=True))
    if query.branch is not None:
        filters.append(func.lower(CodingTaskRow.branch) == query.branch.lower())
    if query.issue_number is not None:
        filters.append(CodingTaskRow.issue_number == query.issue_number)
    if query.search is not None:
        needle = query.search.lower()
        filters.append(or_(func.lower(CodingTaskRow.issue_title).contains(needle, autoescape=True),
                           cast(CodingTaskRow.issue_number, Text).contains(needle, autoescape=True)))
    if query.completed_from is not None:  # never-completed tasks count as time 0: dropped
        filters.append(and_(col(CodingTaskRow.completed_at).is_not(None),
                            col(CodingTaskRow.completed_at) >= query.completed_from))
    if query.completed_to is not None:
        filters.append(or_(col(CodingTaskRow.completed_at).is_(None),
                           col(CodingTaskRow.completed_at) <= query.completed_to))
    return filters


async def task_history(db: AsyncSession, scope: Scope, query: HistoryQuery) -> TaskHistoryPage:
    filters = [scope.clause(), *_history_filters(query)]
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(CodingTaskRow).where(*filters))).one()
    statement = select(CodingTaskRow).where(*filters).order_by(
        col(CodingTaskRow.completed_at).desc().nulls_last(), col(CodingTaskRow.updated_at).desc(),
        col(CodingTaskRow.id)).offset(query.offset).limit(query.limit)
    tasks = await _objects(db, list((await db.exec(statement)).all()))
    return TaskHistoryPage.model_construct(tasks=tasks, total=total, limit=query.limit, offset=query.offset)


async def task_in_scope(db: AsyncSession, scope: Scope, task_id: TaskId) -> CodingTaskRow:
    task = await db.get(CodingTaskRow, str(task_id))
    if task is None or not scope.allows(task.repo_owner, task.repo_name):
        raise NotFound(TASK_NOT_FOUND, code=TASK_NOT_FOUND)
    return task


async def executions_of(db: AsyncSession, task_id: str) -> list[TaskExecutionRow]:
    return list((await db.exec(select(TaskExecutionRow).where(TaskExecutionRow.task_id == task_id)
                               .order_by(col(TaskExecutionRow.queued_at).desc()))).all())


async def task_status(db: AsyncSession, task: CodingTaskRow) -> TaskStatusPublic:
    return status_object(task, await executions_of(db, task.id))


async def one_task(db: AsyncSession, task_id: str) -> TaskPublic:
    """The task as it is recorded now (read again: a run's workflow may just have written it)."""
    task = await db.get(CodingTaskRow, task_id, populate_existing=True)
    if task is None:
        raise NotFound(TASK_NOT_FOUND, code=TASK_NOT_FOUND)
    return (await _objects(db, [task]))[0]
