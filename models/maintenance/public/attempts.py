"""Maintenance attempts: the latest record of each attempt a dispatch started."""

from __future__ import annotations

from pydantic import Field, SerializeAsAny

from models.maintenance.public.base import Timestamp, WireModel
from models.maintenance.status import AttemptStatus, DispatchOperation


class CandidateRefPublic(WireModel):
    """A branch or ref a run produced."""

    kind: str = Field(description="`branch` for patch-stack-rebase; `ref` when the backend gives none")
    ref: str
    repo: str | None = None
    remote: str | None = None
    url: str | None = None
    sha: str | None = None
    pushed: bool | None = None


class ThreadRefPublic(WireModel):
    """A pointer to an agent thread found in a run's artifacts."""

    thread_id: str
    turn_id: str | None = None
    thread_json_path: str | None = None
    turn_status: str | None = None
    label: str | None = None
    run_id: str | None = None
    flow_name: str | None = None
    step_name: str | None = None


class MaintenanceAttemptPublic(WireModel):
    id: str = Field(description="`<eventId>:<operation>:<createdAt of the dispatch record>`")
    event_id: str
    event_type: str | None = None
    operation: DispatchOperation
    status: AttemptStatus
    upstream_repo: str | None = None
    upstream_ref: str | None = None
    upstream_sha: str | None = None
    upstream_tag: str | None = None
    workspace_backend_url: str | None = Field(None, description="HTTP backend only")
    workspace_run_ids: list[str] = Field(default_factory=list)
    workspace_run_statuses: dict[str, str] | None = Field(None, description="Run id → the run's effective status")
    candidate_refs: list[CandidateRefPublic] = Field(default_factory=list)
    workspace_thread_refs: list[ThreadRefPublic] | None = None
    message: str | None = None
    error: str | None = None
    created_at: Timestamp
    updated_at: Timestamp
    completed_at: Timestamp | None = Field(None, description="When the attempt ended; left out while `started`")


class MaintenanceAttemptList(WireModel):
    attempts: list[SerializeAsAny[MaintenanceAttemptPublic]]


class MaintenanceAttemptEnvelope(WireModel):
    attempt: SerializeAsAny[MaintenanceAttemptPublic]
