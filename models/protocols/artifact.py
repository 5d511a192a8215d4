"""Run artifacts: engine and QA output, kept in Postgres rather than in workflow history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Text
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field


class ArtifactKind:
    ENGINE_OUTPUT = "engine_output"
    QA_OUTPUT = "qa_output"


class Artifact(SQLModel, table=True):
    __tablename__ = "artifacts"

    id: int | None = Field(default=None, primary_key=True)
    protocol_run_id: int = Field(foreign_key="protocol_runs.id", ondelete="CASCADE", index=True)
    step_run_id: int | None = Field(default=None, foreign_key="step_runs.id", ondelete="CASCADE", index=True)
    kind: str = Field(max_length=50)
    name: str = Field(max_length=300)
    content: str = Field(default="", sa_type=Text)
    exit_code: int | None = None
    # One artifact per activity execution: a retried activity overwrites, never duplicates.
    dedupe_key: str = Field(max_length=300, unique=True)
    created_at: datetime = created_at_field()


class ArtifactPublic(SQLModel):
    id: int
    protocol_run_id: int
    step_run_id: int | None
    kind: str
    name: str
    content: str
    exit_code: int | None
    created_at: datetime
