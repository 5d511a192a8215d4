"""The transactional outbox of the platform API v1, in Postgres.

- ``platform_events``: every event a domain change emitted, written in the change's transaction; its
  ``status`` is kept equal to ``event_status`` of its deliveries by the writes that change them.
- ``platform_event_deliveries``: one row per (event, subscriber), claimed by the relay with
  ``FOR UPDATE SKIP LOCKED`` once ``next_attempt_at`` has come; ``attempts`` counts the tries made.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field, updated_at_field


class EventRow(SQLModel, table=True):
    __tablename__ = "platform_events"
    __table_args__ = (
        Index("ix_platform_events_occurred", "workspace_id", text("occurred_at DESC"), text("id DESC")),
        Index("ix_platform_events_subject", "workspace_id", "subject_id"),
        Index("ix_platform_events_failed", "workspace_id", postgresql_where=text("status = 'failed'")),
    )

    id: str = Field(sa_column=Column(Text, primary_key=True))
    workspace_id: str = Field(sa_column=Column(Text, ForeignKey("platform_workspaces.id"), nullable=False))
    topic: str = Field(sa_column=Column(Text, nullable=False))
    subject_type: str = Field(sa_column=Column(Text, nullable=False))
    subject_id: str = Field(sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    correlation_id: str | None = Field(default=None, sa_column=Column(Text))
    #: ``EventStatus``: pending, delivered or failed.
    status: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = created_at_field()


class EventDeliveryRow(SQLModel, table=True):
    __tablename__ = "platform_event_deliveries"
    __table_args__ = (
        Index("ix_platform_event_deliveries_due", "next_attempt_at", postgresql_where=text("status = 'pending'")),
    )

    event_id: str = Field(sa_column=Column(Text, ForeignKey("platform_events.id", ondelete="CASCADE"),
                                           primary_key=True))
    #: ``Subscriber``: temporal or notifications.
    subscriber: str = Field(sa_column=Column(Text, primary_key=True))
    workspace_id: str = Field(sa_column=Column(Text, nullable=False))
    #: ``DeliveryStatus``: pending, delivered or failed.
    status: str = Field(sa_column=Column(Text, nullable=False))
    attempts: int = Field(default=0, sa_column=Column(Integer, nullable=False))
    next_attempt_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    delivered_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    updated_at: datetime = updated_at_field()
