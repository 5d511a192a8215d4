"""The request bodies of the tasks routes, as documented in the OpenAPI document.

The routes read their JSON themselves (``api.tasks.services``), because the answers to a bad body are
part of the contract (``{error: "repoOwner and repoName are required"}`` …); these models say what
those readers accept.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, RootModel

from models.tasks.status import TaskPriority, TaskStatus

PriorityValue = TaskPriority | Literal[1, 2, 3]


class CreateTaskBody(BaseModel):
    """``repoOwner`` and ``repoName`` are required, and ``issueNumber`` or ``prompt``."""

    repoOwner: str = Field(description="Owner of the repository (required).")
    repoName: str = Field(description="Name of the repository (required).")
    issueNumber: int | None = Field(None, ge=1, le=2**31 - 1, description="An existing issue to work on.")
    prompt: str | None = Field(None, description="Instructions; without issueNumber, a new issue is opened from "
                                                 "them (title: their first sentence, at most 80 characters).")
    issueTitle: str | None = Field(None, description="Title of the new issue (default: derived from prompt).")
    issueBody: str | None = Field(None, description="Body of the new issue (default: prompt).")
    agent: str | None = Field(None, description="Agent to run (default opencode).")
    priority: PriorityValue | None = Field(None, description="low, normal (default) or high; or 1, 2, 3.")


class ManualStatusBody(BaseModel):
    """The original's manual status: the body names the task again."""

    repoOwner: str
    repoName: str
    issueNumber: int = Field(ge=1, le=2**31 - 1)
    status: TaskStatus
    progress: int | None = Field(None, ge=0, le=100, description="Ignored: progress follows the status.")
    summary: str | None = Field(None, description="Comment text (default `Task update`).")
    agent: str | None = None
    priority: PriorityValue | None = None
    prUrl: str | None = None
    prNumber: int | None = Field(None, ge=1, le=2**31 - 1)


class CallbackBody(BaseModel):
    """What a runner reports. Counts may also be digit strings; values of other types are ignored."""

    execution_id: str | None = Field(None, description="The execution id (wins over task_id).")
    task_id: str | None = Field(None, description="The execution id, under the original runner's name.")
    status: Literal["complete", "success", "failed"]
    summary: str | None = None
    error: str | None = None
    branch_name: str | None = None
    branch: str | None = None
    base_branch: str | None = None
    commit_hash: str | None = None
    pr_exists: int | None = Field(None, ge=0, description="How many open PRs the runner saw for the branch.")
    callback_attempt: int | None = Field(None, ge=1)
    callback_max_attempts: int | None = Field(None, ge=1)
    callback_last_http_code: int | None = Field(None, ge=1)
    callback_token: str | None = Field(None, description="The token, when it is not sent in a header.")


class ProviderCredentialsBody(RootModel[dict[str, dict[str, str]]]):
    """``{<provider>: {<ENV_KEY>: value}}``: provider ids ``[a-z0-9-]+``, keys ``[A-Z][A-Z0-9_]*``; ``""`` deletes."""


class FlyConfigBody(BaseModel):
    flyToken: str | None = Field(None, description="Blank keeps the stored token.")
    flyAppName: str | None = Field(None, description="Normalised (lowercase, dashes); blank keeps the stored one.")
    validate_: bool = Field(False, alias="validate", description="Check with Fly first; nothing is saved unless ok.")
    setupMode: Literal["org", "deploy"] = Field("org", description="org: create the app when the token can.")
