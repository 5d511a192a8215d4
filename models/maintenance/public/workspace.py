"""The workspace backend's own runs and events, in one shape for either backend (RunView, EventView).

Built by ``models.maintenance.views`` from the backend's objects, which stay under ``raw``."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SerializeAsAny

from models.maintenance.public.base import Timestamp, WireModel


class RunOutputLine(WireModel):
    kind: str = Field(description="`stdout`, `stderr`, or the backend's kind")
    text: str
    created_at: Timestamp | None = None


class WorkspaceRunPublic(WireModel):
    """A RunView."""

    id: str
    event_id: str | None = None
    flow_name: str | None = None
    flow_version: int | float | None = None
    step_name: str | None = None
    runner: str | None = None
    backend: str | None = Field(None, description="`capstan` for the built-in backend")
    process_status: str | None = Field(None, description="The backend's own status")
    result_payload: Any = Field(None, description="The run's result")
    result_status: str | None = None
    status: str = Field(description="`resultStatus`, else `processStatus`, else `unknown`")
    effective_status: str
    needs_attention: bool
    attempt_count: int
    attempts: list[dict[str, Any]]
    output: list[RunOutputLine]
    latest_output: str | None = None
    error: str | None = None
    created_at: Timestamp | None = None
    started_at: Timestamp | None = None
    completed_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    web_url: str | None = Field(None, description="Built-in: the run's workflow execution in the Temporal Web UI "
                                                  "(workflow id and run id), once its workflow recorded it")
    raw: dict[str, Any] = Field(description="The backend's object")


class WorkspaceRunList(WireModel):
    runs: list[SerializeAsAny[WorkspaceRunPublic]]
    event_id: str | None = Field(None, description="The `eventId` filter, when given (or the HTTP backend's)")
    raw: dict[str, Any] | None = Field(None, description="HTTP backend: its whole answer")


class WorkspaceRunEnvelope(WireModel):
    run: SerializeAsAny[WorkspaceRunPublic]


class WorkspaceEventPublic(WireModel):
    """An EventView."""

    id: str
    type: str | None = None
    source: str | None = None
    occurred_at: Timestamp | None = None
    received_at: Timestamp | None = None
    payload: Any = None
    run_ids: list[str]
    runs: list[SerializeAsAny[WorkspaceRunPublic]] = Field(description="Filled by a read of one event; empty in "
                                                                       "the list")
    created_at: Timestamp | None = None
    raw: dict[str, Any]


class WorkspaceEventList(WireModel):
    events: list[SerializeAsAny[WorkspaceEventPublic]]
    raw: dict[str, Any] | None = Field(None, description="HTTP backend: its whole answer")


class WorkspaceEventEnvelope(WireModel):
    event: SerializeAsAny[WorkspaceEventPublic]
