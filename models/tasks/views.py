"""Task, execution and status objects in the wire shape (camelCase, ISO-8601 UTC with ``Z`` or null).

A task shows its latest execution: the fields the task row mirrors from it (status, agent, priority, branch,
times, summary) come from the task row, so a list shows what it filtered on; the others from the execution.
The objects are the models of ``models.tasks.public``, built with ``model_construct``: the rows are
trusted, so nothing is validated twice on the way out.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from models.tasks.public import ExecutionPublic, TaskPublic, TaskStatusPublic
from models.tasks.status import FailureStage, RunnerKind, TaskPriority, TaskStatus, progress_of
from models.tasks.tables import CodingTaskRow, TaskExecutionRow

_FAILED = {TaskStatus.FAILED, TaskStatus.TIMED_OUT}


def iso(moment: datetime | None) -> str | None:
    """``2026-05-13T00:00:01.000Z`` (JavaScript's ``toISOString``); a naive datetime is taken as UTC."""
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def log_line(at: datetime, level: str, message: str) -> dict[str, str | None]:
    """One entry of a task's ``logs``; ``level`` is info, success, warning or error."""
    return {"time": iso(at), "level": level, "message": message}


def _priority(word: str) -> TaskPriority:
    try:
        return TaskPriority.parse(word)
    except ValueError:
        return TaskPriority.NORMAL


def _stage(stage: str | None) -> FailureStage | None:
    return FailureStage(stage) if stage else None


def _error(status: TaskStatus, stage: str | None, message: str | None) -> dict[str, Any] | None:
    if status not in _FAILED:
        return None
    return {"stage": FailureStage(stage or FailureStage.AGENT), "message": message}


def _latest(executions: list[TaskExecutionRow]) -> list[TaskExecutionRow]:
    return sorted(executions, key=lambda execution: execution.queued_at, reverse=True)


def callback_warnings(execution: TaskExecutionRow) -> list[dict[str, Any]]:
    """The log lines a completion callback that needed retries leaves."""
    moment = execution.result_received_at or execution.updated_at
    warnings = []
    attempts = execution.callback_attempts
    if attempts and attempts > 1:
        out_of = execution.callback_max_attempts or attempts
        warnings.append(log_line(moment, "warning", f"Callback succeeded after {attempts}/{out_of} attempts."))
    code = execution.callback_last_http_code
    if code and code >= 300:
        warnings.append(log_line(moment, "warning", f"Callback reported non-2xx code before success: HTTP {code}."))
    return warnings


def _mirrored(task_value: Any, run: TaskExecutionRow | None, field: str) -> Any:
    return task_value if task_value is not None or run is None else getattr(run, field)


def _run_fields(task: CodingTaskRow, run: TaskExecutionRow | None) -> dict[str, Any]:
    """The latest run's fields: what the task row mirrors (and lists filter on) from there, the rest from
    the execution."""
    status = TaskStatus(task.status)
    priority = _priority(task.priority)
    stage = run.failure_stage if run else None
    error_message = run.error_message if run else None
    summary = _mirrored(task.summary, run, "summary")
    updated = max(moment for moment in (task.updated_at, run.updated_at if run else None) if moment is not None)
    return {
        "status": status,
        "progress": progress_of(status),
        "agent": task.agent,
        "priority": priority.number,
        "priorityName": priority,
        "executionId": _mirrored(task.execution_id, run, "id"),
        "branch": _mirrored(task.branch, run, "branch"),
        "commitHash": run.commit_hash if run else None,
        "prUrl": run.pr_url if run else None,
        "prNumber": run.pr_number if run else None,
        "summary": summary,
        "failureStage": _stage(stage),
        "errorMessage": error_message,
        "error": _error(status, stage, error_message or summary),
        "queuedAt": iso(_mirrored(task.queued_at, run, "queued_at")),
        "startedAt": iso(_mirrored(task.started_at, run, "started_at")),
        "completedAt": iso(_mirrored(task.completed_at, run, "completed_at")),
        "updatedAt": iso(updated),
    }


def task_object(task: CodingTaskRow, execution: TaskExecutionRow | None) -> TaskPublic:
    run = _run_fields(task, execution)
    return TaskPublic.model_construct(**{
        "id": task.id,
        **{key: run[key] for key in ("status", "progress", "agent", "priority", "priorityName")},
        "repoOwner": task.repo_owner,
        "repoName": task.repo_name,
        "issueNumber": task.issue_number,
        "issueTitle": task.issue_title,
        "issueBody": task.issue_body,
        "issueUrl": task.issue_url,
        "createdBy": task.created_by,
        "requestedBy": task.requested_by,
        "createdAt": iso(task.created_at),
        **{key: run[key] for key in ("queuedAt", "startedAt", "completedAt", "updatedAt", "executionId", "branch",
                                     "commitHash", "prUrl", "prNumber", "summary", "failureStage", "errorMessage",
                                     "error")},
        "callbackAttempts": execution.callback_attempts if execution else None,
        "callbackMaxAttempts": execution.callback_max_attempts if execution else None,
        "callbackLastHttpCode": execution.callback_last_http_code if execution else None,
        "logs": [dict(entry) for entry in task.logs or []] + (callback_warnings(execution) if execution else []),
    })


def execution_object(execution: TaskExecutionRow) -> ExecutionPublic:
    return ExecutionPublic.model_construct(**{
        "executionId": execution.id,
        "status": TaskStatus(execution.status),
        "branch": execution.branch,
        "baseBranch": execution.base_branch,
        "runner": RunnerKind(execution.runner),
        "runnerRef": execution.runner_ref,
        "requestedBy": execution.requested_by,
        "failureStage": _stage(execution.failure_stage),
        "errorMessage": execution.error_message,
        "commitHash": execution.commit_hash,
        "prUrl": execution.pr_url,
        "prNumber": execution.pr_number,
        "queuedAt": iso(execution.queued_at),
        "startedAt": iso(execution.started_at),
        "completedAt": iso(execution.completed_at),
    })


def status_object(task: CodingTaskRow, executions: list[TaskExecutionRow]) -> TaskStatusPublic:
    """``GET /api/tasks/:id/status``: the task's latest state and all its executions, newest first."""
    newest_first = _latest(executions)
    run = _run_fields(task, newest_first[0] if newest_first else None)
    return TaskStatusPublic.model_construct(
        id=task.id, **run, executions=[execution_object(execution) for execution in newest_first])


def comment_marker(task: CodingTaskRow, execution: TaskExecutionRow, summary: str) -> dict[str, Any]:
    """The JSON of a status comment's hidden marker (``models.tasks.comments.comment_body`` drops the nulls)."""
    return {
        "taskId": task.id, "executionId": execution.id, "agent": execution.agent,
        "priority": _priority(execution.priority).value, "status": execution.status,
        "progress": progress_of(TaskStatus(execution.status)), "createdAt": iso(task.created_at),
        "updatedAt": iso(execution.updated_at), "summary": summary, "prUrl": execution.pr_url,
        "prNumber": execution.pr_number, "branchName": execution.branch, "commitHash": execution.commit_hash,
        "failureStage": execution.failure_stage, "callbackAttempts": execution.callback_attempts,
        "callbackMaxAttempts": execution.callback_max_attempts,
        "callbackLastHttpCode": execution.callback_last_http_code,
    }
