"""From a signed ``issue_comment`` delivery to a queued task: the webhook's decision table, in order
(docs/api/tasks.md).

Only an accepted delivery records its id (and its comment's), so a refused or badly signed one can be
redelivered. The first matching row answers; nothing after it runs. Rows 10 and 14 are read first. An
accepted comment's run is started with the request in its workflow's input, and the answer comes as
soon as Temporal has it (no worker needed: GitHub gives up on a delivery after 10 s). Its workflow id
is derived from the comment id, so a copy of the comment (same delivery or another) that got past the
reads is refused by Temporal and answered as a duplicate; the run's first step records it, where
Postgres decides the rest for good (a run of the task already active: the run ends quietly).

Every integer of the payload is bounded by the column that keeps it: an issue number by ``INTEGER``,
GitHub's ids by ``BIGINT`` (a payload beyond them is a 400, never a failed write).
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import BadRequest
from api.common.temporal_calls import Client
from api.tasks.services.runs import start_comment_run
from capstan.settings import Settings
from integrations.stores.task_runs import active_execution, comment_task, delivery_task
from integrations.stores.task_users import stored_config
from models.common.limits import PG_INTEGER_MAX
from models.tasks.agents import agent_catalog, default_agent
from models.tasks.command import has_mention, parse_command
from models.tasks.config import is_repo_selected
from models.tasks.ids import TaskId
from models.tasks.public import CommentWebhookAnswer
from models.tasks.requests import PG_BIGINT_MAX, EnqueueRun, TaskRequest, TaskSource
from models.tasks.tables import GitHubUserRow

#: A GitHub id (user, comment, repository, installation): ``BIGINT`` columns keep them.
GitHubId = Annotated[int, Field(ge=1, le=PG_BIGINT_MAX)]
#: An issue number: an ``INTEGER`` column keeps it.
IssueNumber = Annotated[int, Field(ge=1, le=PG_INTEGER_MAX)]
#: The end of a status comment's marker: its JSON object closes the HTML comment, and nothing follows.
_MARKER_END = re.compile(r"\} -->\s*\Z")


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore")


class _User(_Loose):
    login: str
    id: GitHubId
    type: str = "User"


class _Comment(_Loose):
    id: GitHubId
    body: str | None = ""
    user: _User


class _Issue(_Loose):
    number: IssueNumber
    title: str | None = ""
    body: str | None = ""
    html_url: str | None = None
    user: _User | None = None


class _Owner(_Loose):
    login: str


class _Repository(_Loose):
    id: GitHubId | None = None
    name: str
    owner: _Owner
    clone_url: str
    default_branch: str | None = None


class _Installation(_Loose):
    id: GitHubId | None = None


class IssueCommentEvent(_Loose):
    """The parts of GitHub's ``issue_comment`` payload a task needs; wrong types are a 400."""

    action: str
    comment: _Comment
    issue: _Issue
    repository: _Repository
    installation: _Installation | None = None


def answer(status: str, code: int = 202, **fields: Any) -> tuple[int, CommentWebhookAnswer]:
    return code, CommentWebhookAnswer(status=status, **fields)


def parse_event(payload: Any) -> IssueCommentEvent:
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_payload")
    try:
        return IssueCommentEvent.model_validate(payload)
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        raise BadRequest(f"not an issue_comment payload: {where}: {first['msg']}", code="invalid_payload") from None


def is_status_comment(body: str, handle: str) -> bool:
    """Whether the comment is one of Capstan's own status comments (it ends with the hidden marker
    ``<!-- <handle>:{...} -->``). A dashboard task comments with its user's OAuth token, so GitHub
    delivers those comments as the user's, not a bot's: one whose summary quotes ``@<handle>`` (an
    agent's output, an issue's text) must not start another run."""
    start = body.lower().rfind(f"\n\n<!-- {handle.lower()}:{{")
    return start >= 0 and _MARKER_END.search(body, start) is not None


async def signed_in_user(db: AsyncSession, user_id: int, login: str) -> GitHubUserRow | None:
    """The commenter's stored sign-in: by GitHub user id, then by lowercased login."""
    user = await db.get(GitHubUserRow, user_id)
    if user is None:
        user = (await db.exec(select(GitHubUserRow).where(func.lower(GitHubUserRow.login) == login.lower()))).first()
    return user if user is not None and user.oauth_token else None


async def take_comment(db: AsyncSession, temporal: Client, settings: Settings, payload: Any,
                       delivery_id: str | None) -> tuple[int, CommentWebhookAnswer]:
    """Rows 3–15 of the decision table (the signature and the event name are checked before)."""
    tasks = settings.tasks
    if not isinstance(payload, dict):
        raise BadRequest("the body must be a JSON object", code="invalid_payload")
    comment = payload.get("comment")
    body = comment.get("body") if isinstance(comment, dict) else None
    if not isinstance(body, str) or not has_mention(body, tasks.handle):
        return answer("ignored", reason="no_mention")
    event = parse_event(payload)
    if event.action != "created":
        return answer("ignored", reason="action")
    commenter = event.comment.user
    if commenter.type == "Bot":
        return answer("ignored", reason="bot")
    if is_status_comment(body, tasks.handle):
        return answer("ignored", reason="own_comment")
    if tasks.allowlist and commenter.login.lower() not in tasks.allowlist:
        return answer("not_authorized", 200)
    seen = (await delivery_task(db, delivery_id) if delivery_id else None) or await comment_task(db, event.comment.id)
    if seen is not None:
        return answer("accepted", taskId=seen, duplicate=True)
    if not event.installation or not event.installation.id:
        return answer("missing_installation", 200)
    user = await signed_in_user(db, commenter.id, commenter.login)
    if user is None:
        return answer("missing_user_oauth", 200)
    repo = event.repository
    config = await stored_config(db, user.id)
    if not is_repo_selected(config, f"{repo.owner.login}/{repo.name}", repo.id):
        return answer("repo_not_selected", 200)
    task_id = str(TaskId(repo.owner.login, repo.name, event.issue.number))
    if await active_execution(db, task_id) is not None:
        return answer("ignored", reason="already_running", taskId=task_id)
    catalog = agent_catalog(tasks.agents)
    command = parse_command(body, tasks.handle, catalog, default_agent(config, catalog))
    assert command is not None  # has_mention held
    request = TaskRequest(
        repo_owner=repo.owner.login, repo_name=repo.name, issue_number=event.issue.number,
        issue_title=event.issue.title or "", issue_body=event.issue.body or "", issue_url=event.issue.html_url,
        created_by=event.issue.user.login if event.issue.user else None, requested_by=commenter.login,
        requester_user_id=user.id, source=TaskSource.WEBHOOK, installation_id=event.installation.id,
        clone_url=repo.clone_url, default_branch=repo.default_branch or "main", agent=command.agent,
        priority=command.priority, instructions=command.instructions, comment_id=event.comment.id)
    if not await start_comment_run(db, temporal, settings, EnqueueRun(request=request,
                                                                      delivery_id=delivery_id or None)):
        return answer("accepted", taskId=task_id, duplicate=True)
    return answer("accepted", taskId=task_id)
