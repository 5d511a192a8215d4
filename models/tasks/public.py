"""The run routes' wire shapes (``/api/tasks*``, the webhook, the callback), one model each, so the OpenAPI
document types every answer. Field names are the wire's own (camelCase), in the wire's order.

``models.tasks.views`` builds the task, execution and status objects from trusted rows with
``model_construct`` (no second validation pass); FastAPI serialises them once, in pydantic's core.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from models.tasks.status import FailureStage, RunnerKind, TaskPriority, TaskStatus


class LogLine(TypedDict):
    """One line of a task's ``logs``."""

    time: str | None
    level: Literal["info", "success", "warning", "error"]
    message: str


class TaskError(TypedDict):
    """The latest run's error: set for ``failed`` and ``timed_out``."""

    stage: FailureStage
    message: str | None


class TaskPublic(BaseModel):
    """A task: the issue, who asked, and its latest execution (docs/api/tasks.md, "The task object")."""

    id: str = Field(description="`owner/repo#<issue>`")
    status: TaskStatus
    progress: int = Field(description="0 queued, 10 running, 100 ended")
    agent: str
    priority: int = Field(description="1 low, 2 normal, 3 high")
    priorityName: TaskPriority
    repoOwner: str
    repoName: str
    issueNumber: int
    issueTitle: str
    issueBody: str
    issueUrl: str | None
    createdBy: str | None = Field(description="The issue's author")
    requestedBy: str | None = Field(description="Who asked for the latest run")
    createdAt: str | None
    queuedAt: str | None
    startedAt: str | None
    completedAt: str | None
    updatedAt: str | None
    executionId: str | None
    branch: str | None
    commitHash: str | None
    prUrl: str | None
    prNumber: int | None
    summary: str | None
    failureStage: FailureStage | None
    errorMessage: str | None
    error: TaskError | None
    callbackAttempts: int | None
    callbackMaxAttempts: int | None
    callbackLastHttpCode: int | None
    logs: list[LogLine]


class ExecutionPublic(BaseModel):
    """One run of a task (docs/api/tasks.md, "The execution object")."""

    executionId: str
    status: TaskStatus
    branch: str
    baseBranch: str
    runner: RunnerKind
    runnerRef: str | None
    requestedBy: str | None = Field(description="Who asked for this run (whose keys and Fly setup it used)")
    failureStage: FailureStage | None
    errorMessage: str | None
    commitHash: str | None
    prUrl: str | None
    prNumber: int | None
    queuedAt: str | None
    startedAt: str | None
    completedAt: str | None


class TaskStatusPublic(BaseModel):
    """``GET /api/tasks/{id}/status``: the latest run's state and every execution, newest first."""

    id: str
    status: TaskStatus
    progress: int
    agent: str
    priority: int
    priorityName: TaskPriority
    executionId: str | None
    branch: str | None
    commitHash: str | None
    prUrl: str | None
    prNumber: int | None
    summary: str | None
    failureStage: FailureStage | None
    errorMessage: str | None
    error: TaskError | None
    queuedAt: str | None
    startedAt: str | None
    completedAt: str | None
    updatedAt: str | None
    executions: list[ExecutionPublic]


class TaskHistoryPage(BaseModel):
    """``GET /api/tasks/history``: one page, and how many tasks match before paging."""

    tasks: list[TaskPublic]
    total: int
    limit: int
    offset: int


class StatusSetAnswer(BaseModel):
    """``PUT /api/tasks/{id}/status``: the status is recorded, the issue relabelled and commented."""

    ok: Literal[True] = True


class RetryAnswer(BaseModel):
    ok: Literal[True] = True
    taskId: str
    executionId: str
    branch: str
    status: Literal["queued"] = "queued"


class StopAnswer(BaseModel):
    """200: the run ended (``stopped``, or how it ended when it was already ending); 202 ``stopping``: the
    stop is accepted and not yet recorded."""

    ok: Literal[True] = True
    taskId: str
    executionId: str
    status: TaskStatus | Literal["stopping"]


class CallbackAnswer(BaseModel):
    """``{ok, executionId}`` when the run took the result, ``{ok, ignored}`` otherwise (absent fields are left out)."""

    ok: Literal[True] = True
    executionId: str | None = None
    ignored: Literal["unknown_execution", "already_finished"] | None = None


class CommentWebhookAnswer(BaseModel):
    """The webhook's decision, by row of its table (absent fields are left out)."""

    status: Literal["accepted", "ignored", "not_authorized", "missing_installation", "missing_user_oauth",
                    "repo_not_selected"]
    reason: Literal["event", "no_mention", "action", "bot", "own_comment", "already_running"] | None = None
    taskId: str | None = None
    duplicate: Literal[True] | None = None
