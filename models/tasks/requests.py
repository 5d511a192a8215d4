"""What asks for a run of a task, one shape from the API to the records: ``TaskRequest``.

The API builds it (from a signed comment, a dashboard body, or the task being retried); the run's
workflow gets it in its input (an accepted comment: ``CodingTaskInput.intake``) or with its ``enqueue``
Update (a dashboard create or retry), completes it from GitHub when it must (a dashboard task's issue
and repository), records it with its execution, and runs from it.
It holds plain task data and who asked, never a token or key: histories are visible in the Web UI.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

from models.common.limits import PG_INTEGER_MAX
from models.tasks.ids import TaskId
from models.tasks.status import TaskPriority, TaskStatus

#: The largest value of a Postgres ``BIGINT`` column (GitHub's user, comment and installation ids).
PG_BIGINT_MAX = 2**63 - 1


class TaskSource(StrEnum):
    #: An issue comment: the run uses the App's installation token and reacts to the comment.
    WEBHOOK = "webhook"
    #: The dashboard (create or retry of a dashboard task): the run uses the requesting user's OAuth token.
    DASHBOARD = "dashboard"


class NewIssue(BaseModel):
    """A dashboard task without an issue: the workflow opens this one first."""

    title: str
    body: str


class TaskRequest(BaseModel):
    """Who asks for which run of which issue."""

    repo_owner: str
    repo_name: str
    #: ``None`` only while a dashboard request waits for its ``new_issue`` to be opened.
    issue_number: int | None = Field(default=None, ge=1, le=PG_INTEGER_MAX)
    issue_title: str = ""
    issue_body: str = ""
    issue_url: str | None = None
    #: The issue's author.
    created_by: str | None = None
    #: Who asks: the commenter, or the signed-in user of a dashboard create or retry.
    requested_by: str | None = None
    #: Whose config, keys, Fly setup (and, for a dashboard task, OAuth token) this run uses.
    requester_user_id: int | None = Field(default=None, ge=1, le=PG_BIGINT_MAX)
    source: TaskSource
    #: The App installation of a webhook task (its runs use an installation token).
    installation_id: int | None = Field(default=None, ge=1, le=PG_BIGINT_MAX)
    clone_url: str = ""
    #: The branch the pull request targets.
    default_branch: str = "main"
    agent: str
    priority: TaskPriority = TaskPriority.NORMAL
    instructions: str = ""
    #: The comment that asked (a webhook run reacts 👀 to it; one comment starts at most one run).
    comment_id: int | None = Field(default=None, ge=1, le=PG_BIGINT_MAX)
    new_issue: NewIssue | None = None
    #: What the run reads from GitHub before it records the request, with the requesting user's OAuth
    #: token: a retry the ``repository`` (its base branch again), a dashboard create the ``issue`` too
    #: (and the repository; or it opens ``new_issue``). A comment brings all of it.
    github_read: Literal["repository", "issue"] | None = None

    @property
    def task_id(self) -> str:
        if self.issue_number is None:
            raise ValueError("the request has no issue yet")
        return str(TaskId(self.repo_owner, self.repo_name, self.issue_number))


class EnqueueRun(BaseModel):
    """Record this request as the run's execution (its id is the workflow's): the ``enqueue`` Update's
    argument, or an accepted comment's in the workflow's input (``CodingTaskInput.intake``)."""

    request: TaskRequest
    #: The webhook delivery that asked (``X-GitHub-Delivery``); a second copy of it starts nothing.
    delivery_id: str | None = None
    #: A retry: the execution it retries, which must still be the task's latest and retryable.
    retry_of: str | None = None


class EnqueuedRun(BaseModel):
    """The execution as recorded: the ``enqueue`` Update's answer and what the run works from."""

    execution_id: str
    branch: str
    request: TaskRequest

    @property
    def task_id(self) -> str:
        return self.request.task_id

    @classmethod
    def from_loaded(cls, loaded: dict[str, Any]) -> EnqueuedRun:
        """A run started before the ``enqueue`` Update read its execution with ``load_task_execution``, whose
        answer (in those histories) is this flat record; only the fields the run uses are carried over."""
        comment_id = loaded.get("comment_id")
        return cls(execution_id=loaded["execution_id"], branch=loaded["branch"], request=TaskRequest(
            repo_owner=loaded["repo_owner"], repo_name=loaded["repo_name"], issue_number=loaded["issue_number"],
            issue_title=loaded["issue_title"], issue_body=loaded["issue_body"], clone_url=loaded["clone_url"],
            default_branch=loaded["base_branch"], agent=loaded["agent"],
            priority=TaskPriority.parse(loaded["priority"]), instructions=loaded["instructions"], comment_id=comment_id,
            source=TaskSource.WEBHOOK if comment_id is not None else TaskSource.DASHBOARD))


class EnqueueRecord(BaseModel):
    """What the workflow records for ``enqueue`` (a local write): the request, completed from GitHub."""

    execution_id: str
    runner: str
    request: TaskRequest
    delivery_id: str | None = None
    retry_of: str | None = None
    #: When Temporal accepted the run (a comment's: the webhook's answer), recorded as its ``queued_at``;
    #: ``None``: when it is recorded.
    accepted_at: datetime | None = None


class ResultArrival(BaseModel):
    """A runner's result was accepted (the ``complete`` Update): when, and what its callback reported."""

    execution_id: str
    callback_attempt: int | None = None
    callback_max_attempts: int | None = None
    callback_last_http_code: int | None = None


class ManualStatusChange(BaseModel):
    """``PUT /api/tasks/{id}/status``: a status set by hand on a task no run is working on; the issue is
    relabelled and commented with the requesting user's OAuth token, then the task records it."""

    task_id: str
    status: TaskStatus
    summary: str
    agent: str | None = None
    priority: TaskPriority | None = None
    pr_url: str | None = None
    pr_number: int | None = Field(default=None, ge=1, le=PG_INTEGER_MAX)
    requester_user_id: int = Field(ge=1, le=PG_BIGINT_MAX)
