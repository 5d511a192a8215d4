"""The maintenance surface's records in Postgres.

Flow events, dispatch records and attempt records are append-only and kept in their wire shape
(camelCase JSON, ``body``) with the columns the lists filter and order on beside it. ``seq`` is
the write order every list sorts by, newest first. An attempt is a chain of records with one id;
``latest`` marks the newest of each chain (flipped in the same transaction that appends), so the
lists read one row per attempt without grouping.

The built-in workspace backend keeps the events it received and the runs it started (Temporal
workflows) in ``maintenance_workspace_events`` and ``maintenance_workspace_runs``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Identity, Index, Text, text
from sqlalchemy.dialects.postgresql import JSONB
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field


def _seq() -> Any:
    return Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))


def _body() -> Any:
    return Field(sa_column=Column(JSONB, nullable=False))


class FlowEventRow(SQLModel, table=True):
    __tablename__ = "maintenance_flow_events"
    __table_args__ = (
        Index("ix_maintenance_flow_events_type_seq", "type", "seq"),
        Index("ix_maintenance_flow_events_undispatched", "source_id", postgresql_where=text("NOT dispatched")),
    )

    seq: int | None = _seq()
    id: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    type: str = Field(sa_column=Column(Text, nullable=False))
    source_id: str = Field(sa_column=Column(Text, nullable=False))
    body: dict[str, Any] = _body()
    #: Set when the event's first dispatch record is written; the intake starts a dispatch for
    #: every stored event still without one (one lost between the two steps is picked up).
    dispatched: bool = Field(default=False, nullable=False)
    created_at: datetime = created_at_field()


class DispatchRow(SQLModel, table=True):
    __tablename__ = "maintenance_dispatches"
    __table_args__ = (
        Index("ix_maintenance_dispatches_event_id_seq", "event_id", "seq"),
        Index("ix_maintenance_dispatches_status_seq", "status", "seq"),
    )

    seq: int | None = _seq()
    event_id: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(Text, nullable=False))
    #: The dispatch workflow that wrote it: a retried write finds its record instead of adding one.
    dispatch_key: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    body: dict[str, Any] = _body()
    created_at: datetime = created_at_field()


class AttemptRow(SQLModel, table=True):
    __tablename__ = "maintenance_attempts"
    __table_args__ = (
        Index("ix_maintenance_attempts_attempt_id_seq", "attempt_id", "seq"),
        Index("ix_maintenance_attempts_latest_seq", "seq", postgresql_where=text("latest")),
        Index("ix_maintenance_attempts_latest_event", "event_id", "seq", postgresql_where=text("latest")),
        Index("ix_maintenance_attempts_run_ids", "run_ids", postgresql_using="gin"),
    )

    seq: int | None = _seq()
    attempt_id: str = Field(sa_column=Column(Text, nullable=False))
    event_id: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(Text, nullable=False))
    latest: bool = Field(default=True, nullable=False)
    #: ``workspaceRunIds`` of the record, for finding the attempts a finished run belongs to.
    run_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    body: dict[str, Any] = _body()
    created_at: datetime = created_at_field()


class FeedSourceStateRow(SQLModel, table=True):
    """What polling a feed source left: its cursor and how the last poll went."""

    __tablename__ = "maintenance_feed_sources"

    source_id: str = Field(sa_column=Column(Text, primary_key=True))
    cursor: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    last_polled_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    last_error: str | None = Field(default=None, sa_column=Column(Text))
    last_result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))


class WorkspaceEventRow(SQLModel, table=True):
    """An event the built-in backend received: the first dispatch of an event id starts its runs,
    every later one is answered as a duplicate."""

    __tablename__ = "maintenance_workspace_events"

    seq: int | None = _seq()
    event_id: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    type: str = Field(sa_column=Column(Text, nullable=False, index=True))
    body: dict[str, Any] = _body()
    run_ids: list[str] = Field(default_factory=list, sa_column=Column(JSONB, nullable=False))
    #: The dispatch that registered it: its own retry gets its first answer back, not "duplicate".
    dispatch_key: str = Field(sa_column=Column(Text, nullable=False))
    created_at: datetime = created_at_field()


class WorkspaceRunRow(SQLModel, table=True):
    """A run of the built-in backend: one workflow running one automation for one event."""

    __tablename__ = "maintenance_workspace_runs"
    __table_args__ = (Index("ix_maintenance_workspace_runs_event_id_seq", "event_id", "seq"),)

    seq: int | None = _seq()
    id: str = Field(sa_column=Column(Text, unique=True, nullable=False))
    event_id: str = Field(sa_column=Column(Text, nullable=False))
    flow_name: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(sa_column=Column(Text, nullable=False))
    result_status: str | None = Field(default=None, sa_column=Column(Text))
    result: dict[str, Any] | None = Field(default=None, sa_column=Column(JSONB, nullable=True))
    error: str | None = Field(default=None, sa_column=Column(Text))
    attempt_count: int = Field(default=0, nullable=False)
    #: The run id of the workflow execution that last wrote the row: the Web UI link names that execution.
    workflow_run_id: str | None = Field(default=None, sa_column=Column(Text))
    created_at: datetime = created_at_field()
    started_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
    completed_at: datetime | None = Field(default=None, sa_column=Column(DateTime(timezone=True)))
