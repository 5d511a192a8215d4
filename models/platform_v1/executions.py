"""Workflow executions of the platform API v1: their types, statuses, the moves between statuses and
the failure codes, defined once here for the workflow (which owns the record) and the API (which refuses
a retry or a cancel the rules do not allow with 409 ``invalid_transition``).

Free of SQLAlchemy: ``workflows/`` imports it.
"""

from __future__ import annotations

import hashlib
import re
from enum import StrEnum

from models.platform_v1.workflow_ids import workspace_workflow_id


class ExecutionType(StrEnum):
    AGENT = "agent"
    IMPORT = "import"
    EXPORT = "export"
    ACCOUNTING_SYNC = "accounting_sync"
    SMOKE = "smoke"


class ExecutionMode(StrEnum):
    SYNC = "sync"
    ASYNC = "async"


class ExecutionStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"


S = ExecutionStatus
#: Every move a status rule allows: the run (queued → running → an ending), a cancel (queued or running →
#: cancelled), a retry (failed or cancelled → queued). Anything else is 409 ``invalid_transition``.
TRANSITIONS: dict[ExecutionStatus, frozenset[ExecutionStatus]] = {
    S.QUEUED: frozenset({S.RUNNING, S.CANCELLED}),
    S.RUNNING: frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED}),
    S.SUCCEEDED: frozenset(),
    S.FAILED: frozenset({S.QUEUED}),
    S.CANCELLED: frozenset({S.QUEUED}),
}
#: Statuses an execution is still going in (a callback completes it, a cancel stops it).
ACTIVE = frozenset({S.QUEUED, S.RUNNING})
#: Statuses an execution has ended in.
ENDED = frozenset({S.SUCCEEDED, S.FAILED, S.CANCELLED})


def may_move(current: ExecutionStatus | str, target: ExecutionStatus | str) -> bool:
    return ExecutionStatus(target) in TRANSITIONS[ExecutionStatus(current)]


def statuses_moving_to(target: ExecutionStatus) -> frozenset[ExecutionStatus]:
    """The statuses a record may be in for a move to ``target`` (the ``WHERE`` of the write that makes it)."""
    return frozenset(status for status, targets in TRANSITIONS.items() if target in targets)


class FailureCode(StrEnum):
    """Why an agent execution failed (jobs add their own codes)."""

    AGENT_UNAVAILABLE = "agent_unavailable"
    AGENT_REJECTED = "agent_rejected"
    AGENT_TIMEOUT = "agent_timeout"
    INVALID_AGENT_RESPONSE = "invalid_agent_response"
    AGENT_FAILED = "agent_failed"
    INTERNAL_ERROR = "internal_error"


#: An agent id or a reasoner id.
AGENT_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
EXECUTION_PREFIX = "wex"
ARTIFACT_PREFIX = "art"
EXECUTION_ID = re.compile(r"^wex_[0-9a-f]{32}$")
ARTIFACT_ID = re.compile(r"^art_[0-9a-f]{32}$")


def derived_id(prefix: str, *parts: str) -> str:
    """``<prefix>_<32 hex>`` derived from ``parts``: the same request (its workspace, caller, route and
    ``Idempotency-Key``) always names the same execution, so a second start of it is Temporal's duplicate."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(len(part.encode()).to_bytes(8, "big"))
        digest.update(part.encode())
    return f"{prefix}_{digest.hexdigest()[:32]}"


def execution_workflow_id(queue: str, workspace_id: str, execution_id: str) -> str:
    """An execution's Temporal workflow id: ``<queue>:ws:<workspace>:execution:<wex id>``."""
    return workspace_workflow_id(queue, workspace_id, "execution", execution_id)


def artifact_path(artifact_id: str) -> str:
    return f"/api/v1/artifacts/{artifact_id}"


def artifact_ref(artifact_id: str | None, public_url: str | None) -> str | None:
    """The ref of an artifact as records answer it: its path, absolute under ``public_url`` when one is set."""
    if artifact_id is None:
        return None
    path = artifact_path(artifact_id)
    return f"{public_url.rstrip('/')}{path}" if public_url else path
