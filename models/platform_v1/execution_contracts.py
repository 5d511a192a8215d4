"""The wire contracts of the platform API v1's durable-execution routes: workflow executions, the agent
registry, ``POST /execute``, the workflow-completed webhook and artifacts (``docs/api/platform-v1.md``)."""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from models.common.urls import outside_url_problem
from models.platform_v1.contracts import Timestamp
from models.platform_v1.executions import AGENT_NAME, ExecutionMode, ExecutionStatus, ExecutionType

AgentName = Field(pattern=AGENT_NAME.pattern, description="`^[a-z0-9][a-z0-9_-]{0,62}$`")
#: ``metadata`` of an agent, at most this many bytes of JSON.
METADATA_MAX_BYTES = 16 * 1024
URL_MAX = 2000


class ActionBody(BaseModel):
    """The body of an action that takes no fields: ``{}``, or no body at all."""

    model_config = ConfigDict(extra="forbid")


class TemporalRef(BaseModel):
    workflowId: str | None
    runId: str | None = Field(description="The latest run (a retry is a new run of the same workflow id).")
    uiUrl: str | None


class ExecutionPublic(BaseModel):
    id: str = Field(description="`wex_` + 32 hex digits.")
    workspaceId: str
    type: ExecutionType
    target: str | None = Field(description="`agent.reasoner` (agent executions only).")
    agentId: str | None
    reasoner: str | None
    mode: ExecutionMode | None
    status: ExecutionStatus
    failureCode: str | None
    failureMessage: str | None
    retryCount: int = Field(description="How many times the API retried this execution.")
    jobId: str | None
    inputRef: str | None = Field(description="The input artifact's path (absolute under CAPSTAN_API_PUBLIC_URL).")
    outputRef: str | None
    evidenceRef: str | None
    durationMs: int | None
    createdAt: Timestamp
    startedAt: Timestamp | None
    completedAt: Timestamp | None
    createdBy: str | None
    correlationId: str | None
    temporal: TemporalRef


class ExecutionWithResult(ExecutionPublic):
    """A sync execute that finished in time: the record and its output (``null`` when it failed)."""

    result: Any = Field(None, description="The output JSON; null unless the execution succeeded. Only in the 200 "
                                          "of a sync execute that finished in time.")


# --- the agent registry ---------------------------------------------------------------------------

class ReasonerBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = AgentName
    description: str | None = Field(None, max_length=500)
    timeoutSeconds: int = Field(60, ge=1, le=3600)
    callbackTimeoutSeconds: int = Field(3600, ge=1, le=86400)


class AgentBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    baseUrl: str = Field(max_length=URL_MAX, description="http(s), no userinfo.")
    version: str | None = Field(None, max_length=100)
    reasoners: list[ReasonerBody] = Field(min_length=1, max_length=100)
    metadata: dict[str, Any] = Field(default_factory=dict, description="At most 16 KiB of JSON.")

    @field_validator("baseUrl")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if problem := outside_url_problem(value):
            raise ValueError(f"the URL {problem}")
        return value

    @field_validator("reasoners")
    @classmethod
    def _unique(cls, reasoners: list[ReasonerBody]) -> list[ReasonerBody]:
        ids = [reasoner.id for reasoner in reasoners]
        if len(set(ids)) != len(ids):
            raise ValueError("reasoner ids must be unique")
        return reasoners

    @field_validator("metadata")
    @classmethod
    def _small(cls, metadata: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(metadata, separators=(",", ":")).encode()) > METADATA_MAX_BYTES:
            raise ValueError(f"at most {METADATA_MAX_BYTES} bytes of JSON")
        return metadata


class HeartbeatBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: str | None = Field(None, max_length=100)


class ReasonerPublic(BaseModel):
    id: str
    description: str | None
    timeoutSeconds: int
    callbackTimeoutSeconds: int


class AgentPublic(BaseModel):
    id: str
    workspaceId: str
    baseUrl: str
    version: str | None
    reasoners: list[ReasonerPublic]
    metadata: dict[str, Any]
    status: Literal["healthy", "stale"] = Field(description="`stale` once the last heartbeat is older than "
                                                            "CAPSTAN_AGENT_STALE_SECONDS; computed on read.")
    lastHeartbeatAt: Timestamp
    registeredAt: Timestamp
    registeredBy: str | None
    updatedAt: Timestamp


# --- execute ----------------------------------------------------------------------------------------

class ExecuteBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input: dict[str, Any] = Field(description="The reasoner's input, sent to the agent as the request body.")
    mode: ExecutionMode = ExecutionMode.SYNC
    waitSeconds: int | None = Field(None, ge=1, le=60, description="Sync only: how long to wait (default 30).")


# --- the workflow-completed webhook -----------------------------------------------------------------

class WorkflowCompletedPayload(BaseModel):
    """AgentField's webhook payload; unknown fields are ignored (a third party's payload)."""

    model_config = ConfigDict(extra="ignore")

    event: Literal["execution.completed", "execution.failed"]
    execution_id: str = Field(min_length=1, max_length=64)
    status: str | None = Field(None, max_length=100)
    result: Any = None
    error_message: str | None = Field(None, max_length=100_000)
    duration_ms: int | None = Field(None, ge=0, le=2**31 - 1)
    timestamp: str | None = Field(None, max_length=100)


class WebhookAnswer(BaseModel):
    status: Literal["accepted", "duplicate", "ignored"]
    executionId: str | None = None
    deliveryId: str | None = None
    reason: str | None = None


# --- the agent runtime -------------------------------------------------------------------------------

ComponentStatus = Literal["ok", "degraded"]


class ServiceComponent(BaseModel):
    status: ComponentStatus
    detail: str


class AgentsComponent(BaseModel):
    status: ComponentStatus
    total: int
    healthy: int
    stale: int


class OutboxComponent(BaseModel):
    status: ComponentStatus
    pending: int
    failed: int
    oldestPendingSeconds: float | None


class JobsComponent(BaseModel):
    status: ComponentStatus
    queued: int
    running: int
    failed: int


class RuntimeComponents(BaseModel):
    temporal: ServiceComponent
    workers: ServiceComponent
    agents: AgentsComponent
    outbox: OutboxComponent
    jobs: JobsComponent


class RuntimeHealth(BaseModel):
    status: ComponentStatus = Field(description="`degraded` when any component is.")
    checkedAt: Timestamp
    components: RuntimeComponents


class RuntimeQueue(BaseModel):
    name: str
    workflowPollers: int
    activityPollers: int
    backlog: int | None = Field(description="Approximate tasks waiting (workflow + activity); null when the "
                                            "server reports no statistics.")
    backlogAgeSeconds: float | None


class SmokeBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    target: str | None = Field(None, max_length=200, description="`agent.reasoner`: also call it once.")
    input: dict[str, Any] | None = Field(None, description="The agent's input (default `{}`); with a target only.")


class SmokeCheckPublic(BaseModel):
    name: Literal["worker", "database", "agent"]
    status: Literal["passed", "failed"]
    durationMs: int
    detail: str


class SmokeAnswer(BaseModel):
    status: Literal["passed", "failed"]
    executionId: str
    durationMs: int
    checks: list[SmokeCheckPublic]
