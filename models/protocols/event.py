"""Events: the append-only history of every run, newest first in the API."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Column, Index
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field


class Event(SQLModel, table=True):
    __tablename__ = "events"
    __table_args__ = (
        Index("ix_events_project_id_id", "project_id", "id"),
        Index("ix_events_protocol_run_id_id", "protocol_run_id", "id"),
    )

    id: int | None = Field(default=None, primary_key=True)
    project_id: int = Field(foreign_key="projects.id", ondelete="CASCADE")
    protocol_run_id: int | None = Field(default=None, foreign_key="protocol_runs.id", ondelete="CASCADE")
    step_run_id: int | None = Field(default=None, foreign_key="step_runs.id", ondelete="SET NULL")
    event_type: str = Field(max_length=100)
    message: str = Field(default="", max_length=20000)
    # ``metadata`` is reserved on SQLModel classes; the column keeps the API's name.
    event_metadata: dict[str, Any] | None = Field(default=None, sa_column=Column("metadata", JSONB))
    # Set by workflow writes so a retried activity records its event once.
    dedupe_key: str | None = Field(default=None, max_length=300, unique=True)
    created_at: datetime = created_at_field()


class EventPublic(BaseModel):
    id: int
    protocol_run_id: int | None
    step_run_id: int | None
    event_type: str
    message: str
    created_at: datetime
    metadata: dict[str, Any] | None
    protocol_name: str | None
    project_id: int
    project_name: str | None
