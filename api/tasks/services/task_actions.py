"""What a signed-in user does to tasks: create one from the dashboard, retry, stop, and set a status by hand.

Each checks what Postgres can tell at once (the repository selected, the agent ready for this user, no
run active), then asks the run's workflow (``api.tasks.services.runs``), which does the work and the
writes and answers once they are recorded. A retry runs as the user who retries: their agent keys, Fly
setup and (for a dashboard task) GitHub token; readiness is checked against them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import BadRequest, Conflict, Forbidden
from api.common.temporal_calls import Client
from api.tasks.services.config import catalog_of
from api.tasks.services.runs import (
    DASHBOARD_REFUSALS,
    TASK_RUNNING,
    enqueue,
    set_task_status,
    stop_run,
)
from api.tasks.services.task_records import executions_of
from api.tasks.session import SignedIn
from capstan.settings import Settings
from integrations.stores.task_runs import active_execution
from integrations.stores.task_users import secret_changes, stored_config
from models.tasks.agents import FALLBACK_AGENT, blocked_reason, fly_blocked_reason, normalise_agent
from models.tasks.config import is_repo_selected
from models.tasks.ids import TaskId
from models.tasks.public import RetryAnswer, StopAnswer
from models.tasks.requests import EnqueueRun, ManualStatusChange, NewIssue, TaskRequest, TaskSource
from models.tasks.status import ACTIVE_STATUSES, RunnerKind, TaskPriority, TaskStatus
from models.tasks.tables import CodingTaskRow

REPO_NOT_SELECTED = "Repository is not selected in Settings. Add it under Settings > Repositories first."
DEFAULT_TITLE = "Capstan task"
TITLE_LIMIT = 80
_TEXT_LIMIT = 65536


def derived_title(prompt: str) -> str:
    """The prompt with whitespace collapsed, up to its first ``.``, ``!`` or ``?``, at most 80 characters."""
    collapsed = " ".join(prompt.split())
    first = re.split(r"[.!?]", collapsed, maxsplit=1)[0].strip()
    return first[:TITLE_LIMIT].rstrip() or DEFAULT_TITLE


@dataclass(frozen=True)
class CreateBody:
    repo_owner: str
    repo_name: str
    issue_number: int | None
    prompt: str
    issue_title: str | None
    issue_body: str | None
    agent: str
    priority: TaskPriority


def _optional_text(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise BadRequest(f"{name} must be a string", code="invalid_request")
    if "\x00" in value or len(value) > _TEXT_LIMIT:
        raise BadRequest(f"{name} must be text of at most {_TEXT_LIMIT} characters without NUL bytes",
                         code="invalid_request")
    return value


def _issue_number(value: Any, name: str = "issueNumber") -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str) or not str(value).strip().isdigit() \
            or not 0 < int(value) < 2**31:
        raise BadRequest(f"{name} must be a positive integer", code="invalid_request")
    return int(value)


def parse_create_body(body: Any) -> CreateBody:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_request")
    owner, name = _optional_text(body, "repoOwner"), _optional_text(body, "repoName")
    if not owner or not owner.strip() or not name or not name.strip():
        raise BadRequest("repoOwner and repoName are required", code="repoOwner and repoName are required")
    issue_number = _issue_number(body.get("issueNumber"))
    prompt = (_optional_text(body, "prompt") or "").strip()
    if issue_number is None and not prompt:
        raise BadRequest("issueNumber or prompt is required", code="issueNumber or prompt is required")
    agent = _optional_text(body, "agent")
    try:
        priority = TaskPriority.parse(body["priority"]) if body.get("priority") is not None else TaskPriority.NORMAL
    except ValueError as error:
        raise BadRequest(str(error), code="invalid_priority") from None
    return CreateBody(repo_owner=owner.strip(), repo_name=name.strip(), issue_number=issue_number, prompt=prompt,
                      issue_title=_optional_text(body, "issueTitle"), issue_body=_optional_text(body, "issueBody"),
                      agent=normalise_agent(agent) if agent and agent.strip() else FALLBACK_AGENT, priority=priority)


async def readiness_error(db: AsyncSession, settings: Settings, user_id: int, agent: str) -> BadRequest | None:
    """The 400 for an agent this user cannot run now (unknown, disabled, missing credentials or Fly setup)."""
    catalog = catalog_of(settings)
    if agent not in catalog:
        known = ", ".join(sorted(catalog))
        return BadRequest(f"unknown agent {agent!r}; known agents: {known}", code="Task blocked: unknown agent.")
    config = await stored_config(db, user_id)
    names = set(await secret_changes(db, user_id))
    reason = blocked_reason(agent, catalog, config, names)
    if reason is None and settings.tasks.runner == RunnerKind.FLY:
        reason = fly_blocked_reason(config, names)
    return BadRequest(reason, code=reason) if reason else None


async def create_task(db: AsyncSession, temporal: Client, settings: Settings, signed_in: SignedIn,
                      body: CreateBody) -> str:
    """Check everything, then start the run: its workflow reads the repository and the issue (or opens
    the issue) with the user's token, and records the task. The task's id."""
    full_name = f"{body.repo_owner}/{body.repo_name}"
    if not is_repo_selected(await stored_config(db, signed_in.user.id), full_name, None):
        raise Forbidden(REPO_NOT_SELECTED, code="repo_not_selected", extra={"message": REPO_NOT_SELECTED})
    if (blocked := await readiness_error(db, settings, signed_in.user.id, body.agent)) is not None:
        raise blocked
    if body.issue_number is not None and \
            await active_execution(db, str(TaskId(body.repo_owner, body.repo_name, body.issue_number))) is not None:
        raise Conflict(TASK_RUNNING, code="task_running")
    new_issue = None if body.issue_number is not None else NewIssue(
        title=body.issue_title or derived_title(body.prompt), body=body.issue_body or body.prompt)
    request = TaskRequest(
        repo_owner=body.repo_owner, repo_name=body.repo_name, issue_number=body.issue_number,
        requested_by=signed_in.user.login, requester_user_id=signed_in.user.id, source=TaskSource.DASHBOARD,
        agent=body.agent, priority=body.priority, instructions=body.prompt, new_issue=new_issue,
        github_read="issue")
    recorded = await enqueue(db, temporal, settings, EnqueueRun(request=request), DASHBOARD_REFUSALS)
    return recorded.task_id


async def retry_task(db: AsyncSession, temporal: Client, settings: Settings, signed_in: SignedIn,
                     task: CodingTaskRow) -> RetryAnswer:
    """A new execution with the last one's agent, priority and instructions, on a new branch, run as the
    user who retries (their keys, Fly setup and, for a dashboard task, GitHub token); the base branch is
    read again from GitHub."""
    executions = await executions_of(db, task.id)
    latest = executions[0] if executions else None
    if latest is not None and TaskStatus(latest.status) in ACTIVE_STATUSES:
        raise Conflict(TASK_RUNNING, code="task_running")
    if latest is not None and latest.status == TaskStatus.SUCCESS:
        raise Conflict("the task succeeded; there is nothing to retry", code="not_retryable")
    agent, priority = (latest.agent, latest.priority) if latest else (task.agent, task.priority)
    if (blocked := await readiness_error(db, settings, signed_in.user.id, agent)) is not None:
        raise blocked
    request = TaskRequest(
        repo_owner=task.repo_owner, repo_name=task.repo_name, issue_number=task.issue_number,
        issue_title=task.issue_title, issue_body=task.issue_body, issue_url=task.issue_url,
        created_by=task.created_by, requested_by=signed_in.user.login, requester_user_id=signed_in.user.id,
        source=TaskSource(task.source), installation_id=task.installation_id, clone_url=task.clone_url,
        default_branch=task.default_branch, agent=agent, priority=TaskPriority.parse(priority),
        instructions=latest.instructions if latest else "", github_read="repository")
    recorded = await enqueue(db, temporal, settings, EnqueueRun(request=request, retry_of=task.execution_id),
                             DASHBOARD_REFUSALS)
    return RetryAnswer(taskId=recorded.task_id, executionId=recorded.execution_id, branch=recorded.branch)


def _not_running(status: str | None) -> Conflict:
    return Conflict("no run of this task is queued or running", code="not_running", extra={"status": status})


async def stop_task(db: AsyncSession, temporal: Client, settings: Settings, task: CodingTaskRow
                    ) -> tuple[int, StopAnswer]:
    """The ``stop`` Update of the active execution's run: 200 once it recorded how it ended (``stopped``),
    202 ``stopping`` when the stop goes on past the update timeout, 409 when nothing runs."""
    execution = await active_execution(db, task.id)
    if execution is None:
        raise _not_running(task.status)
    status = execution.status
    outcome = await stop_run(db, temporal, settings, execution.id, lambda ended: _not_running(ended or status))
    if outcome.state == "completed":
        return 200, StopAnswer(taskId=task.id, executionId=execution.id, status=outcome.result)
    if outcome.state == "pending":
        return 202, StopAnswer(taskId=task.id, executionId=execution.id, status="stopping")
    # The record says the run is active, but its workflow has closed (terminated by an operator):
    # nothing is left to stop.
    raise _not_running(status)


@dataclass(frozen=True)
class ManualStatus:
    task_id: TaskId
    status: TaskStatus
    summary: str
    agent: str | None
    priority: TaskPriority | None
    pr_url: str | None
    pr_number: int | None


MANUAL_REQUIRED = "repoOwner, repoName, issueNumber, status are required"


def parse_manual_status(body: Any) -> ManualStatus:
    if not isinstance(body, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_request")
    owner, name, status = (_optional_text(body, key) for key in ("repoOwner", "repoName", "status"))
    number = _issue_number(body.get("issueNumber"))
    if not owner or not name or not status or number is None:
        raise BadRequest(MANUAL_REQUIRED, code=MANUAL_REQUIRED)
    try:
        parsed = TaskStatus(status)
    except ValueError:
        raise BadRequest(f"status must be one of {', '.join(TaskStatus)}", code="invalid_status",
                         extra={"allowed": list(TaskStatus)}) from None
    try:
        priority = TaskPriority.parse(body["priority"]) if body.get("priority") is not None else None
    except ValueError as error:
        raise BadRequest(str(error), code="invalid_priority") from None
    agent = _optional_text(body, "agent")
    return ManualStatus(task_id=TaskId(owner, name, number), status=parsed,
                        summary=(_optional_text(body, "summary") or "").strip() or "Task update",
                        agent=normalise_agent(agent) if agent and agent.strip() else None, priority=priority,
                        pr_url=_optional_text(body, "prUrl"), pr_number=_issue_number(body.get("prNumber"), "prNumber"))


async def set_status_by_hand(db: AsyncSession, temporal: Client, settings: Settings, signed_in: SignedIn,
                             task: CodingTaskRow, change: ManualStatus) -> None:
    """Relabel the issue, comment the summary and record the status, in a short workflow that acts with the
    user's token and answers once recorded (409 while a run works)."""
    if await active_execution(db, task.id) is not None:
        raise Conflict(f"{TASK_RUNNING}; stop it first", code="task_running")
    await set_task_status(db, temporal, settings, ManualStatusChange(
        task_id=task.id, status=change.status, summary=change.summary, agent=change.agent, priority=change.priority,
        pr_url=change.pr_url, pr_number=change.pr_number, requester_user_id=signed_in.user.id))
