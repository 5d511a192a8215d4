"""What the platform API v1's workflows take, return and exchange with their activities and the API.

Only ids travel through Temporal: the input, output and evidence of an execution are artifact ids
(``platform_artifacts``), a secret is named by its key and read by the activity that uses it, so no
payload or secret value is ever in a workflow history.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from pydantic import BaseModel, Field


class WorkflowName(StrEnum):
    AGENT_EXECUTION = "AgentExecutionWorkflow"
    PLATFORM_SMOKE = "PlatformSmokeWorkflow"


class ActivityName(StrEnum):
    RECORD_EXECUTION_QUEUED = "record_platform_execution_queued"
    RECORD_EXECUTION_RUNNING = "record_platform_execution_running"
    RECORD_EXECUTION_ENDED = "record_platform_execution_ended"
    CALL_AGENT = "call_platform_agent"
    SMOKE_DATABASE = "check_platform_smoke_database"


class UpdateName(StrEnum):
    #: The first Update of every run (update-with-start): record the execution ``queued`` (or, for a retry,
    #: move it back to ``queued``), then wait up to ``wait_seconds`` for its end.
    REGISTER = "register"
    #: An agent's outcome of a call it answered with 202 (``POST /webhooks/workflow-completed``).
    CALLBACK = "callback"


#: ``ApplicationError.type`` of the refusals the API answers.
INVALID_TRANSITION = "invalid_transition"
ALREADY_ENDED = "already_ended"

#: The agent secret the call reads (Bearer token), by key: never its value in a history.
AGENT_TOKEN_SECRET = "agents.token"
#: What of a ``failureMessage`` is kept.
FAILURE_MESSAGE_MAX = 2000


class AgentTarget(BaseModel):
    """The agent and reasoner an execution calls, as the registry held them when it was started."""

    agent_id: str
    reasoner: str
    base_url: str
    version: str | None = None
    timeout_seconds: int = 60
    callback_timeout_seconds: int = 3600

    @property
    def name(self) -> str:
        return f"{self.agent_id}.{self.reasoner}"


class AgentExecutionInput(BaseModel):
    """One run of ``AgentExecutionWorkflow``; a retry is a new run of the same workflow id with this input
    again (and ``retry_count`` one more)."""

    execution_id: str
    workspace_id: str
    target: AgentTarget
    mode: str
    input_artifact_id: str
    created_by: str | None = None
    correlation_id: str | None = None
    #: 0 for the execution's first run, the record's ``retryCount`` after the retry for a retry's run.
    retry_count: int = 0
    #: Tries of the agent call (``CAPSTAN_AGENT_CALL_MAX_ATTEMPTS`` when the run was started).
    max_attempts: int = 3
    #: The request that started this run: only its ``register`` Update is admitted (a replay of it too).
    request: str


class Registration(BaseModel):
    """The ``register`` Update: how long to wait for the end before answering (0: answer once recorded)."""

    #: The request registering: the one that started the run (``AgentExecutionInput.request``).
    request: str
    wait_seconds: float = Field(0, ge=0, le=60)


class Registered(BaseModel):
    """What ``register`` answers: the execution is recorded; ``ended`` once it has ended."""

    execution_id: str
    status: str
    ended: bool


class QueuedWrite(BaseModel):
    """Record the execution ``queued``: a new row, or (``retry_count`` > 0) a failed or cancelled one moved back."""

    run: AgentExecutionInput
    workflow_id: str
    run_id: str


class RunningWrite(BaseModel):
    execution_id: str
    run_id: str
    started_at: datetime


class AgentCall(BaseModel):
    """One try of the agent call (``x-attempt``)."""

    execution_id: str
    workspace_id: str
    correlation_id: str | None
    target: AgentTarget
    input_artifact_id: str
    attempt: int
    run_id: str


class CallOutcome(StrEnum):
    OUTPUT = "output"          # 200 with JSON
    ACCEPTED = "accepted"      # 202: the callback will tell
    UNAVAILABLE = "unavailable"  # connection error, 429, 5xx: tried again
    REJECTED = "rejected"      # another 4xx
    TIMEOUT = "timeout"        # nothing within timeoutSeconds
    INVALID = "invalid"        # a 200 that is not JSON, or over 1 MiB


class AttemptResult(BaseModel):
    """What one try came to (the evidence's ``attempts[]``)."""

    attempt: int
    outcome: CallOutcome
    started_at: datetime
    duration_ms: int
    http_status: int | None = None
    error: str | None = None
    output_artifact_id: str | None = None


class CallbackReport(BaseModel):
    """The ``callback`` Update: the agent's outcome, its result stored as an artifact by the API."""

    delivery_id: str
    completed: bool
    output_artifact_id: str | None = None
    error_message: str | None = None
    received_at: datetime


class CallbackAnswer(BaseModel):
    execution_id: str
    status: str


class EndedWrite(BaseModel):
    """The execution's one ending: the record, its evidence artifact and its ``workflow.completed`` event,
    in one transaction that applies only to an execution still going."""

    execution_id: str
    workspace_id: str
    run_id: str
    workflow_id: str
    status: str
    failure_code: str | None = None
    failure_message: str | None = None
    output_artifact_id: str | None = None
    completed_at: datetime
    duration_ms: int
    #: The agent called (``None``: a smoke run without a target).
    target: AgentTarget | None
    attempts: list[AttemptResult] = Field(default_factory=list)
    callback: CallbackReport | None = None


class SmokeInput(BaseModel):
    """``POST /agent-runtime/smoke``: a worker, database and (with a target) agent check, as an execution."""

    execution_id: str
    workspace_id: str
    target: AgentTarget | None = None
    input_artifact_id: str | None = None
    created_by: str | None = None
    correlation_id: str | None = None


class SmokeRecord(BaseModel):
    """The smoke execution's record, written ``running`` and read back by the database check."""

    run: SmokeInput
    workflow_id: str
    run_id: str
    started_at: datetime


class SmokeCheck(BaseModel):
    name: str
    status: str
    duration_ms: int
    detail: str


class SmokeResult(BaseModel):
    status: str
    execution_id: str
    duration_ms: int
    checks: list[SmokeCheck]
