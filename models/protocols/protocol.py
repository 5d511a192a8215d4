"""Protocol runs and their steps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import field_validator
from sqlalchemy import Index, String, UniqueConstraint
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field, json_field, updated_at_field
from models.common.gitrefs import check_branch_name, check_repository_folder
from models.common.limits import PG_INTEGER_MAX
from models.protocols.policies import validate_policy
from models.protocols.status import ProtocolStatus, StepStatus


class ProtocolRunBase(SQLModel):
    protocol_name: str = Field(min_length=1, max_length=200)
    status: ProtocolStatus = Field(default=ProtocolStatus.PENDING, sa_type=String(20))
    base_branch: str = Field(default="main", min_length=1, max_length=255)
    worktree_path: str | None = Field(default=None, max_length=2000)
    protocol_root: str | None = Field(default=None, max_length=2000)
    description: str | None = Field(default=None, max_length=20000)
    template_config: dict[str, Any] | None = json_field()
    template_source: dict[str, Any] | None = json_field()


class ProtocolRun(ProtocolRunBase, table=True):
    __tablename__ = "protocol_runs"
    __table_args__ = (Index("ix_protocol_runs_project_id", "project_id", "id"),)

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", ondelete="CASCADE")
    workflow_id: str | None = Field(default=None, max_length=255)
    #: The run id of the workflow execution that last wrote this run (or started it): ``workflow_url`` names it,
    #: so the link opens the execution that did the work, not a later one with the same workflow id.
    workflow_run_id: str | None = Field(default=None, max_length=255)
    runtime_state: dict[str, Any] | None = json_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class ProtocolRunCreate(ProtocolRunBase):
    @field_validator("protocol_name", "base_branch")
    @classmethod
    def _is_a_branch_name(cls, value: str) -> str:
        return check_branch_name(value)

    @field_validator("protocol_root")
    @classmethod
    def _is_inside_the_repository(cls, value: str | None) -> str | None:
        return check_repository_folder(value)


class ActionResponse(SQLModel):
    """What every protocol and step action returns."""

    message: str
    job: dict[str, Any] | None = None


class ProtocolRunPublic(ProtocolRunBase):
    id: int
    project_id: int
    workflow_id: str | None
    workflow_url: str | None = None
    runtime_state: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime


class StepRunBase(SQLModel):
    step_index: int = Field(ge=0, le=PG_INTEGER_MAX)
    step_name: str = Field(min_length=1, max_length=200)
    step_type: str = Field(default="execute", min_length=1, max_length=50)
    status: StepStatus = Field(default=StepStatus.PENDING, sa_type=String(20))
    model: str | None = Field(default=None, max_length=200)
    summary: str | None = Field(default=None, max_length=20000)
    engine_id: str | None = Field(default=None, max_length=100)
    policy: dict[str, Any] | list[dict[str, Any]] | None = json_field()


class StepRun(StepRunBase, table=True):
    __tablename__ = "step_runs"
    __table_args__ = (UniqueConstraint("protocol_run_id", "step_index", name="uq_step_runs_protocol_index"),)

    id: int | None = Field(default=None, primary_key=True)
    protocol_run_id: int = Field(foreign_key="protocol_runs.id", ondelete="CASCADE", index=True)
    retries: int = Field(default=0)
    runtime_state: dict[str, Any] | None = json_field()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class StepRunCreate(StepRunBase):
    runtime_state: dict[str, Any] | None = None  # e.g. {"agent_id": ...} for trigger policies

    @field_validator("policy")
    @classmethod
    def _policy_is_known(cls, value: Any) -> Any:
        problems = validate_policy(value)
        if problems:
            raise ValueError("; ".join(problems))
        return value


class StepRunPublic(StepRunBase):
    id: int
    protocol_run_id: int
    retries: int
    runtime_state: dict[str, Any] | None
    created_at: datetime
    updated_at: datetime
