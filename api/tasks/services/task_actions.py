"""What a signed-in user does to tasks: create one from the dashboard, retry, stop, and set a status by hand.

Runs are started and ended only through ``CodingTaskWorkflow``: create and retry record a queued
execution and start its workflow (``executions.enqueue_execution``); stop cancels the workflow, whose
cancellation destroys the runner and records ``stopped``. The manual status route is the original's
escape hatch for a task no run is working on.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client, WorkflowFailureError
from temporalio.service import RPCError

from api.common.errors import BadRequest, Conflict, Forbidden
from api.common.temporal_calls import is_not_found, unavailable
from api.tasks.services.config import catalog_of
from api.tasks.services.executions import (
    AlreadyRunning,
    TaskRequest,
    active_execution,
    enqueue_execution,
    workflow_id,
)
from api.tasks.services.task_records import executions_of
from api.tasks.session import SignedIn
from capstan.settings import Settings
from integrations.github.client import GitHubClient
from integrations.stores.task_users import secret_changes, stored_config
from models.common.base import utcnow
from models.tasks.agents import FALLBACK_AGENT, blocked_reason, fly_blocked_reason, normalise_agent
from models.tasks.comments import comment_body
from models.tasks.config import is_repo_selected
from models.tasks.ids import TaskId
from models.tasks.labels import next_labels
from models.tasks.status import ACTIVE_STATUSES, Priority, RunnerKind, TaskStatus, progress_of
from models.tasks.tables import CodingTaskRow
from models.tasks.views import iso, log_line

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
    priority: Priority


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
        priority = Priority.parse(body["priority"]) if body.get("priority") is not None else Priority.NORMAL
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
                      github: GitHubClient, body: CreateBody) -> CodingTaskRow:
    """Check everything, then (only then) create the issue when asked to, record the task and start its run."""
    full_name = f"{body.repo_owner}/{body.repo_name}"
    if not is_repo_selected(await stored_config(db, signed_in.user.id), full_name, None):
        raise Forbidden(REPO_NOT_SELECTED, code="repo_not_selected", extra={"message": REPO_NOT_SELECTED})
    if (blocked := await readiness_error(db, settings, signed_in.user.id, body.agent)) is not None:
        raise blocked
    task_id = str(TaskId(body.repo_owner, body.repo_name, body.issue_number or 1))
    if body.issue_number is not None and await active_execution(db, task_id) is not None:
        raise Conflict("a run of this task is queued or running", code="task_running")
    repo = await github.get_repo(body.repo_owner, body.repo_name)
    if body.issue_number is not None:
        issue = await github.get_issue(body.repo_owner, body.repo_name, body.issue_number)
    else:
        issue = await github.create_issue(body.repo_owner, body.repo_name, body.issue_title or derived_title(
            body.prompt), body.issue_body or body.prompt)
    number = int(issue["number"])
    author = issue.get("user") if isinstance(issue.get("user"), dict) else {}
    request = TaskRequest(
        task_id=str(TaskId(body.repo_owner, body.repo_name, number)), repo_owner=body.repo_owner,
        repo_name=body.repo_name, issue_number=number, issue_title=str(issue.get("title") or ""),
        issue_body=str(issue.get("body") or ""), issue_url=issue.get("html_url"), created_by=author.get("login"),
        requested_by=signed_in.user.login, requester_user_id=signed_in.user.id, source="dashboard",
        installation_id=None, clone_url=str(repo.get("clone_url") or ""),
        default_branch=str(repo.get("default_branch") or "main"), agent=body.agent, priority=body.priority,
        instructions=body.prompt)
    execution = await _enqueue(db, temporal, settings, request)
    task = await db.get(CodingTaskRow, execution.task_id)
    assert task is not None
    return task


async def _enqueue(db: AsyncSession, temporal: Client, settings: Settings, request: TaskRequest):
    try:
        return await enqueue_execution(db, temporal, settings, request)
    except AlreadyRunning:
        raise Conflict("a run of this task is queued or running", code="task_running") from None


async def retry_task(db: AsyncSession, temporal: Client, settings: Settings, task: CodingTaskRow,
                     github: GitHubClient) -> dict[str, Any]:
    """A new execution with the last one's agent, priority and instructions, on a new branch; the base
    branch is read again from GitHub."""
    executions = await executions_of(db, task.id)
    latest = executions[0] if executions else None
    if latest is not None and TaskStatus(latest.status) in ACTIVE_STATUSES:
        raise Conflict("a run of this task is queued or running", code="task_running")
    if latest is not None and latest.status == TaskStatus.SUCCESS:
        raise Conflict("the task succeeded; there is nothing to retry", code="not_retryable")
    agent, priority = (latest.agent, latest.priority) if latest else (task.agent, task.priority)
    if task.requester_user_id is not None and \
            (blocked := await readiness_error(db, settings, task.requester_user_id, agent)) is not None:
        raise blocked
    repo = await github.get_repo(task.repo_owner, task.repo_name)
    request = TaskRequest(
        task_id=task.id, repo_owner=task.repo_owner, repo_name=task.repo_name, issue_number=task.issue_number,
        issue_title=task.issue_title, issue_body=task.issue_body, issue_url=task.issue_url,
        created_by=task.created_by, requested_by=task.requested_by, requester_user_id=task.requester_user_id,
        source=task.source, installation_id=task.installation_id, clone_url=task.clone_url,
        default_branch=str(repo.get("default_branch") or task.default_branch), agent=agent, priority=priority,
        instructions=latest.instructions if latest else "")
    execution = await _enqueue(db, temporal, settings, request)
    return {"ok": True, "taskId": task.id, "executionId": execution.id, "branch": execution.branch,
            "status": TaskStatus.QUEUED.value}


async def stop_task(db: AsyncSession, temporal: Client, settings: Settings, task: CodingTaskRow
                    ) -> tuple[int, dict[str, Any]]:
    """Cancel the running execution's workflow and wait (at most the update timeout) for it to record
    ``stopped``: 200 once it has, 202 ``stopping`` when it has not yet."""
    execution = await active_execution(db, task.id)
    if execution is None:
        raise Conflict("no run of this task is queued or running", code="not_running",
                       extra={"status": task.status})
    handle = temporal.get_workflow_handle(workflow_id(settings, execution.id))
    try:
        await handle.cancel()
    except RPCError as error:
        if not is_not_found(error):
            raise unavailable("the workflow service is unavailable; try again") from None
    try:
        async with asyncio.timeout(settings.temporal.update_timeout_seconds):
            status = await handle.result()
    except TimeoutError:
        return 202, {"ok": True, "taskId": task.id, "executionId": execution.id, "status": "stopping"}
    except (WorkflowFailureError, RPCError):
        status = None
    await db.refresh(execution)
    return 200, {"ok": True, "taskId": task.id, "executionId": execution.id, "status": status or execution.status}


@dataclass(frozen=True)
class ManualStatus:
    task_id: TaskId
    status: TaskStatus
    summary: str
    agent: str | None
    priority: Priority | None
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
        priority = Priority.parse(body["priority"]) if body.get("priority") is not None else None
    except ValueError as error:
        raise BadRequest(str(error), code="invalid_priority") from None
    agent = _optional_text(body, "agent")
    return ManualStatus(task_id=TaskId(owner, name, number), status=parsed,
                        summary=(_optional_text(body, "summary") or "").strip() or "Task update",
                        agent=normalise_agent(agent) if agent and agent.strip() else None, priority=priority,
                        pr_url=_optional_text(body, "prUrl"), pr_number=_issue_number(body.get("prNumber"), "prNumber"))


async def set_status_by_hand(db: AsyncSession, settings: Settings, task: CodingTaskRow, github: GitHubClient,
                             change: ManualStatus) -> None:
    """Relabel the issue, comment the summary, then record the status on the task (409 while a run works)."""
    if await active_execution(db, task.id) is not None:
        raise Conflict("a run of this task is queued or running; stop it first", code="task_running")
    handle = settings.tasks.handle
    agent = change.agent or task.agent
    priority = change.priority or Priority.parse(task.priority)
    issue = await github.get_issue(task.repo_owner, task.repo_name, task.issue_number)
    current = [label["name"] if isinstance(label, dict) else str(label) for label in issue.get("labels") or []]
    await github.set_labels(task.repo_owner, task.repo_name, task.issue_number,
                            next_labels(current, handle, change.status, agent, priority.value))
    now = utcnow()
    marker = {"taskId": task.id, "executionId": task.execution_id, "agent": agent, "priority": priority.value,
              "status": change.status.value, "progress": progress_of(change.status), "createdAt": iso(task.created_at),
              "updatedAt": iso(now), "summary": change.summary, "prUrl": change.pr_url, "prNumber": change.pr_number}
    await github.create_comment(task.repo_owner, task.repo_name, task.issue_number,
                                comment_body(handle, change.summary, marker))
    task.status, task.summary, task.agent, task.priority = change.status, change.summary, agent, priority.value
    task.updated_at = now
    task.logs = [*task.logs, log_line(now, "info", f"Status set by hand: {change.summary}")]
    db.add(task)
    await db.commit()
