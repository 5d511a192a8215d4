"""Inputs and outputs of workflows and activities: plain dataclasses that cross the
Temporal boundary. Workflow code imports only this module, ``models.status`` and
``models.search_attributes`` from models."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


class WorkflowName:
    PROJECT_SETUP = "ProjectSetupWorkflow"
    PROTOCOL_RUN = "ProtocolRunWorkflow"


def project_setup_workflow_id(project_id: int) -> str:
    return f"project-setup-{project_id}"


def protocol_run_workflow_id(protocol_run_id: int) -> str:
    return f"protocol-run-{protocol_run_id}"


@dataclass
class EventRecord:
    event_type: str
    message: str
    step_run_id: int | None = None
    metadata: dict[str, Any] | None = None
    # A key unique to this write in the workflow's history, so a retried write records once.
    dedupe_key: str | None = None


@dataclass
class StepStatusChange:
    step_run_id: int
    status: str
    retries: int | None = None
    summary: str | None = None
    runtime_state: dict[str, Any] | None = None


@dataclass
class RunRecordsWrite:
    """One atomic write of a run's records: status changes and the events that explain them."""

    project_id: int
    protocol_run_id: int | None = None
    protocol_status: str | None = None
    protocol_runtime_state: dict[str, Any] | None = None
    project_ci_provider: str | None = None
    step_changes: list[StepStatusChange] = field(default_factory=list)
    events: list[EventRecord] = field(default_factory=list)


@dataclass
class ProjectSetupInput:
    project_id: int
    protocol_run_id: int
    git_url: str
    base_branch: str
    ci_provider: str | None = None
    heartbeat_timeout_seconds: float = 10.0


@dataclass
class ProjectSetupResult:
    status: str
    head_sha: str | None = None
    ci_provider: str | None = None
    error: str | None = None


@dataclass
class FetchRepositoryInput:
    git_url: str
    branch: str


@dataclass
class FetchRepositoryResult:
    head_sha: str
    detected_ci_provider: str | None
