"""Inputs and outputs of workflows and activities: plain dataclasses that cross the
Temporal boundary. Workflow code imports only this module, ``models.protocols.status``,
``models.protocols.event_types`` and ``models.common.search_attributes`` from models.

Names (workflows, activities, updates, signals, error types) are ``StrEnum``s: ``str`` subclasses, so
Temporal's JSON converter writes their value and payloads are the same as with plain strings."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from models.common.git_io import FETCH_REPOSITORY_ACTIVITY
from models.common.git_io import FetchRepositoryInput as FetchRepositoryInput  # a common activity
from models.common.git_io import FetchRepositoryResult as FetchRepositoryResult
from models.common.records import RECORD_REJECTED_ERROR
from models.common.records import EventRecord as EventRecord  # the protocols' writes carry the common record


class WorkflowName(StrEnum):
    PROJECT_SETUP = "ProjectSetupWorkflow"
    PROTOCOL_RUN = "ProtocolRunWorkflow"
    LOST_SETUP_RECONCILE = "LostSetupReconcileWorkflow"


PROJECT_SETUP_PREFIX = "project-setup-"


class ActivityName(StrEnum):
    """Activity names, shared by the workflows that call them and the code that reads jobs."""

    RECORD_RUN_CHANGES = "record_run_changes"
    # Written as activities before record writes became local activities; kept for histories that use them.
    WRITE_RUN_RECORDS = "write_run_records"
    CREATE_STEP_RUNS = "create_step_runs"
    FETCH_REPOSITORY = FETCH_REPOSITORY_ACTIVITY
    PLAN_PROTOCOL = "plan_protocol"
    EXECUTE_STEP = "execute_step"
    RUN_QA = "run_qa"
    ENSURE_PROTOCOL_BRANCH = "ensure_protocol_branch"
    OPEN_PULL_REQUEST = "open_pull_request"
    START_LOST_SETUPS = "start_lost_setups"


def project_setup_workflow_id(project_id: int) -> str:
    return f"{PROJECT_SETUP_PREFIX}{project_id}"


def is_project_setup(workflow_id: str | None) -> bool:
    """Setup runs are run by ProjectSetupWorkflow; protocol actions and CI results skip them."""
    return bool(workflow_id) and workflow_id.startswith(PROJECT_SETUP_PREFIX)


def protocol_run_workflow_id(protocol_run_id: int) -> str:
    return f"protocol-run-{protocol_run_id}"


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
    # Steps to create first (an index already present is kept as it is); events may name them by index.
    new_steps: list[NewStep] = field(default_factory=list)


@dataclass
class RunRecordsResult:
    """What a write recorded: the new event ids, and the run's steps at the indexes it created."""

    event_ids: list[int] = field(default_factory=list)
    steps: list[StepState] = field(default_factory=list)


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
class LostSetupSweep:
    """Which setup runs count as lost: still ``pending`` this long after they were recorded."""

    grace_seconds: float = 10.0
    limit: int = 100


# --- protocol runs -------------------------------------------------------------------------------

class Signal(StrEnum):
    CI_REPORT = "ci_report"


class CiOutcome(StrEnum):
    """What a CI or forge notification means for a run (docs/api/webhooks.md)."""

    SUCCESS = "success"    # latest step → completed (or needs_qa + QA with auto-QA-on-CI)
    RUNNING = "running"    # latest step → running
    FAILURE = "failure"    # latest step → failed, protocol → blocked
    MERGED = "merged"      # protocol → completed (event pr_merged)


@dataclass
class CiReport:
    """A CI result or forge event for one protocol run, sent as the ``ci_report`` signal."""

    outcome: str
    source: str                      # "github" | "gitlab" | "ci"
    event_name: str                  # e.g. "workflow_run", "Pipeline Hook"
    status: str                      # the raw status/conclusion that was mapped
    delivery_id: str | None = None   # the workflow ignores a delivery it has seen
    branch: str | None = None
    url: str | None = None


@dataclass
class OpenPullRequestInput:
    """Open (or find) the pull/merge request of a protocol branch. The forge token is read
    by the activity from settings or the project's secrets: never put in workflow history."""

    project_id: int
    protocol_run_id: int
    forge: str                       # "github" | "gitlab"
    repository: str                  # "owner/name" (GitLab: the full project path)
    head_branch: str
    base_branch: str
    title: str
    body: str


@dataclass
class PullRequestResult:
    url: str
    number: int
    created: bool                    # False when it already existed


class WorkKind(StrEnum):
    PLAN = "plan"
    EXECUTE = "execute"
    QA = "qa"
    OPEN_PR = "open_pr"
    IMPORT = "codemachine_import_job"    # CodeMachine steps queued by the import_steps update


#: The job names of the original orchestrator, shown as ``job.type`` in action responses.
JOB_TYPES = {
    WorkKind.PLAN: "plan_protocol_job",
    WorkKind.EXECUTE: "execute_step_job",
    WorkKind.QA: "run_quality_job",
    WorkKind.OPEN_PR: "open_pr_job",
    WorkKind.IMPORT: "codemachine_import_job",
}


@dataclass
class WorkItem:
    kind: str
    step_id: int | None = None
    depth: int = 0                   # trigger-policy nesting (at most 3)


@dataclass
class ProjectSnapshot:
    id: int
    name: str
    git_url: str
    base_branch: str
    ci_provider: str | None = None
    forge_repository: str | None = None
    qa_command: str | None = None


@dataclass
class StepState:
    id: int
    step_index: int
    step_name: str
    step_type: str
    status: str
    retries: int = 0
    engine_id: str | None = None
    model: str | None = None
    policy: dict[str, Any] | list[dict[str, Any]] | None = None
    runtime_state: dict[str, Any] | None = None
    summary: str | None = None


@dataclass
class ProtocolRunSnapshot:
    id: int
    protocol_name: str
    status: str
    base_branch: str
    protocol_root: str | None = None
    description: str | None = None
    template_config: dict[str, Any] | None = None
    runtime_state: dict[str, Any] | None = None
    steps: list[StepState] = field(default_factory=list)


@dataclass
class RunOptions:
    auto_qa_after_exec: bool = False
    auto_qa_on_ci: bool = False
    heartbeat_timeout_seconds: float = 10.0
    step_timeout_seconds: float = 3600.0
    qa_timeout_seconds: float = 1800.0
    activity_max_attempts: int = 3
    continue_as_new_after_events: int = 5000


@dataclass
class ProtocolRunInput:
    project: ProjectSnapshot
    run: ProtocolRunSnapshot
    options: RunOptions = field(default_factory=RunOptions)
    # Carried across continue-as-new.
    pending_work: list[WorkItem] = field(default_factory=list)
    seen_deliveries: list[str] = field(default_factory=list)
    last_step_id: int | None = None


@dataclass
class ActionResult:
    """The documented ``{"message": str, "job": obj|null}`` of every action."""

    message: str
    job: dict[str, Any] | None = None
    step_id: int | None = None


@dataclass
class StepRequest:
    step_id: int


@dataclass
class NewStep:
    step_index: int
    step_name: str
    step_type: str = "execute"
    status: str = "pending"
    model: str | None = None
    summary: str | None = None
    engine_id: str | None = None
    policy: dict[str, Any] | list[dict[str, Any]] | None = None
    runtime_state: dict[str, Any] | None = None


class Update(StrEnum):
    """Update names of ProtocolRunWorkflow: the protocol actions, the step actions, add_step."""

    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    RUN_NEXT_STEP = "run_next_step"
    RETRY_LATEST = "retry_latest"
    OPEN_PR = "open_pr"
    STEP_RUN = "step_run"
    STEP_RUN_QA = "step_run_qa"
    STEP_APPROVE = "step_approve"
    ADD_STEPS = "add_steps"
    IMPORT_STEPS = "import_steps"    # CodeMachine import with enqueue=true: arg list[NewStep]
    WAIT_IDLE = "wait_idle"          # returns the status once no work is queued or running


class UpdateErrorType(StrEnum):
    """``ApplicationError.type`` of a rejected update; the API maps them to HTTP statuses."""

    CONFLICT = "Conflict"            # 409
    NOT_FOUND = "NotFound"           # 404 (no eligible step, unknown step)
    INVALID = "Invalid"              # 400
    # 400: Postgres refused the data for good. Also the type of the records activities' non-retryable
    # failure (integrations/stores/db_errors.py), which the workflows turn into a record_rejected event.
    RECORD_REJECTED = RECORD_REJECTED_ERROR
