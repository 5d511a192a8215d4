"""The ingest of the platform API v1, in Postgres.

- ``platform_ingest_batches``: every batch ``POST /api/v1/events/ingest`` accepted: its source, how many
  events it held, accepted and found duplicate, the accepted count of each type, who sent it. The
  covering index answers the last 24 hours of ``GET /edge-agent/ingest-status`` from the index alone.
- ``platform_ingest_events``: every event id a workspace accepted, with its type and batch. Its primary key
  (workspace, event id) decides duplicates: the batch inserts its ids first (``ON CONFLICT DO NOTHING``), so
  of two concurrent batches holding one id only the one whose insert lands applies it. ``data`` is the
  stored object of ``telemetry`` and ``heartbeat`` events (null for the types that change records).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Column, DateTime, ForeignKey, Index, Integer, PrimaryKeyConstraint, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel


class IngestBatchRow(SQLModel, table=True):
    __tablename__ = "platform_ingest_batches"
    __table_args__ = (
        Index("ix_platform_ingest_batches_created", "workspace_id", text("created_at DESC"), text("id DESC"),
              postgresql_include=["source", "accepted", "duplicates"]),
        Index("ix_platform_ingest_batches_source", "workspace_id", "source", text("created_at DESC")),
    )

    id: str = Field(sa_column=Column(Text, primary_key=True))
    workspace_id: str = Field(sa_column=Column(Text, ForeignKey("platform_workspaces.id"), nullable=False))
    source: str = Field(sa_column=Column(Text, nullable=False))
    received: int = Field(sa_column=Column(Integer, nullable=False))
    accepted: int = Field(sa_column=Column(Integer, nullable=False))
    duplicates: int = Field(sa_column=Column(Integer, nullable=False))
    #: Each type the batch held → how many of its events were accepted.
    by_type: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    created_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    created_by: str | None = Field(default=None, sa_column=Column(Text))
    correlation_id: str | None = Field(default=None, sa_column=Column(Text))


class IngestEventRow(SQLModel, table=True):
    __tablename__ = "platform_ingest_events"
    __table_args__ = (
        PrimaryKeyConstraint("workspace_id", "event_id", name="pk_platform_ingest_events"),
        Index("ix_platform_ingest_events_batch", "batch_id"),
    )

    workspace_id: str = Field(sa_column=Column(Text, ForeignKey("platform_workspaces.id"), nullable=False))
    event_id: str = Field(sa_column=Column(Text, nullable=False))
    #: Checked at commit: a batch inserts its event ids first (they say which are duplicates), then its record.
    batch_id: str = Field(sa_column=Column(Text, ForeignKey("platform_ingest_batches.id", deferrable=True,
                                                            initially="DEFERRED"), nullable=False))
    #: ``IngestEventType``.
    type: str = Field(sa_column=Column(Text, nullable=False))
    occurred_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
    #: The object of a ``telemetry`` or ``heartbeat`` event; null for the other types.
    data: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB))
