"""``POST /api/v1/integrations/github/webhook``: the parts of GitHub's payloads the webhook reads, and its answer.

GitHub's payloads carry far more than this; unknown fields are ignored (a third party's payload), the fields
read are bounded and validated, so a malformed ``workflow_run`` delivery is a 400 that writes nothing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

#: ``x-github-event`` values are GitHub's event names (``workflow_run``, ``check_suite``, …).
EVENT_PATTERN = r"^[a-z][a-z0-9_]{0,63}$"
#: The conclusions of a ``workflow_run`` that make a ``pipeline.failed`` event.
FAILED_CONCLUSIONS = frozenset({"failure", "timed_out", "startup_failure"})
NAME_MAX = 255
URL_MAX = 2000


class _GitHubPart(BaseModel):
    model_config = ConfigDict(extra="ignore")


class GitHubRepository(_GitHubPart):
    #: ``owner/repo``: GitHub's owner and repository names (letters, digits, ``-``, ``_``, ``.``).
    full_name: str = Field(pattern=r"^[A-Za-z0-9_.-]{1,100}/[A-Za-z0-9_.-]{1,100}$")


class GitHubWorkflow(_GitHubPart):
    name: str | None = Field(None, max_length=NAME_MAX)


class GitHubWorkflowRun(_GitHubPart):
    id: int = Field(strict=True, ge=1, le=2**63 - 1)
    #: The run's name; GitHub sends ``""`` for some runs (the workflow's name is used then).
    name: str | None = Field(None, max_length=NAME_MAX)
    html_url: str = Field(min_length=1, max_length=URL_MAX, pattern=r"^https?://[^\s@]+$")
    head_branch: str | None = Field(None, max_length=NAME_MAX)
    head_sha: str = Field(pattern=r"^[0-9a-f]{40}([0-9a-f]{24})?$")
    status: str | None = Field(None, max_length=64)
    conclusion: str | None = Field(None, max_length=64)
    updated_at: datetime | None = None


class WorkflowRunPayload(_GitHubPart):
    """A ``workflow_run`` delivery (``requested``, ``in_progress``, ``completed``)."""

    action: str = Field(min_length=1, max_length=64)
    workflow_run: GitHubWorkflowRun
    repository: GitHubRepository
    workflow: GitHubWorkflow | None = None


class GitHubWebhookAnswer(BaseModel):
    """``pong`` (a ``ping``), ``accepted`` (a failed run: ``eventId`` is its ``pipeline.failed``), ``duplicate``
    (a delivery id seen before: nothing changes) or ``ignored`` (with the ``reason``)."""

    status: Literal["pong", "accepted", "duplicate", "ignored"]
    eventId: str | None = None
    deliveryId: str | None = None
    reason: str | None = None
