"""The platform API v1's durable-execution records in Postgres.

- ``platform_executions``: one row per workflow execution (an agent call, a job, a smoke run), written
  by its workflow through activities; the API only reads it. ``job_id`` stays null until jobs (a view of
  their execution) exist.
- ``platform_artifacts``: the bytes of execution inputs, outputs, evidence and export files, with their
  content type and sha256 (the ETag), readable at ``GET /api/v1/artifacts/{id}`` until the retention ends.
- ``platform_agents``: the agent registry, per workspace; an agent's status is computed on read from its
  last heartbeat.
- ``platform_webhook_deliveries``: every signed webhook delivery answered, unique by (source, delivery id),
  so a delivery sent again is answered ``duplicate`` and applied once; kept at least seven days.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, LargeBinary, Text, UniqueConstraint, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field, updated_at_field


def _text(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=nullable))


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


class ExecutionRow(SQLModel, table=True):
    __tablename__ = "platform_executions"
    __table_args__ = (
        Index("ix_platform_executions_list", "workspace_id", "created_at", "id"),
        Index("ix_platform_executions_status", "workspace_id", "status"),
        Index("ix_platform_executions_agent", "workspace_id", "agent_id"),
        # Jobs (migration 0014): a job id names one execution; one accounting sync at a time per workspace.
        Index("uq_platform_executions_job", "job_id", unique=True, postgresql_where=text("job_id IS NOT NULL")),
        Index("uq_platform_executions_active_sync", "workspace_id", unique=True,
              postgresql_where=text("type = 'accounting_sync' AND status IN ('queued', 'running')")),
    )

    id: str = Field(sa_column=Column(Text, primary_key=True))
    workspace_id: str = Field(sa_column=Column(Text, ForeignKey("platform_workspaces.id"), nullable=False))
    #: ``models.platform_v1.executions.ExecutionType``.
    type: str = Field(sa_column=Column(Text, nullable=False))
    job_id: str | None = _text()
    target: str | None = _text()
    agent_id: str | None = _text()
    reasoner: str | None = _text()
    mode: str | None = _text()
    #: ``models.platform_v1.executions.ExecutionStatus``; moves by ``TRANSITIONS`` only.
    status: str = Field(sa_column=Column(Text, nullable=False))
    failure_code: str | None = _text()
    failure_message: str | None = _text()
    retry_count: int = Field(default=0, sa_column=Column(Integer, nullable=False, server_default="0"))
    input_artifact_id: str | None = _text()
    output_artifact_id: str | None = _text()
    evidence_artifact_id: str | None = _text()
    duration_ms: int | None = Field(default=None, sa_column=Column(Integer))
    created_at: datetime = created_at_field()
    started_at: datetime | None = _ts()
    completed_at: datetime | None = _ts()
    created_by: str | None = _text()
    correlation_id: str | None = _text()
    workflow_id: str | None = _text()
    run_id: str | None = _text()
    #: A job's: the resource of an import or export, what was asked, what it came to (migration 0014).
    resource: str | None = _text()
    params: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))


class ArtifactRow(SQLModel, table=True):
    __tablename__ = "platform_artifacts"
    __table_args__ = (Index("ix_platform_artifacts_workspace", "workspace_id", "created_at"),)

    id: str = Field(sa_column=Column(Text, primary_key=True))
    workspace_id: str = Field(sa_column=Column(Text, ForeignKey("platform_workspaces.id"), nullable=False))
    #: ``payload`` (an execution's input or output), ``evidence``, ``export``, ``import`` (an import's records) or
    #: ``accounting`` (an accounting answer): who may read it.
    kind: str = Field(sa_column=Column(Text, nullable=False))
    content_type: str = Field(sa_column=Column(Text, nullable=False))
    content: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    sha256: str = Field(sa_column=Column(Text, nullable=False))
    size: int = Field(sa_column=Column(Integer, nullable=False))
    #: The execution it belongs to, if any.
    execution_id: str | None = _text()
    created_at: datetime = created_at_field()


class AgentRow(SQLModel, table=True):
    __tablename__ = "platform_agents"

    workspace_id: str = Field(sa_column=Column(Text, ForeignKey("platform_workspaces.id"), primary_key=True))
    id: str = Field(sa_column=Column(Text, primary_key=True))
    base_url: str = Field(sa_column=Column(Text, nullable=False))
    version: str | None = _text()
    #: ``[{id, description, timeoutSeconds, callbackTimeoutSeconds}]``, defaults filled in.
    reasoners: list[dict[str, Any]] = Field(sa_column=Column(JSONB, nullable=False))
    meta: dict[str, Any] = Field(sa_column=Column("metadata", JSONB, nullable=False))
    last_heartbeat_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    registered_at: datetime = created_at_field()
    registered_by: str | None = _text()
    updated_at: datetime = updated_at_field()


class WebhookDeliveryRow(SQLModel, table=True):
    __tablename__ = "platform_webhook_deliveries"
    __table_args__ = (
        UniqueConstraint("source", "delivery_id", name="uq_platform_webhook_deliveries"),
        Index("ix_platform_webhook_deliveries_received_at", "received_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(Integer, primary_key=True, autoincrement=True))
    #: ``agentfield`` (workflow-completed callbacks); ``github`` later.
    source: str = Field(sa_column=Column(Text, nullable=False))
    delivery_id: str = Field(sa_column=Column(Text, nullable=False))
    workspace_id: str | None = _text()
    subject_id: str | None = _text()
    #: What the delivery was answered: ``accepted`` or ``ignored``.
    outcome: str = Field(sa_column=Column(Text, nullable=False))
    received_at: datetime = created_at_field()
