"""Dispatch records: every hand-over of a flow event to a workspace backend (append-only)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SerializeAsAny

from models.maintenance.public.base import Timestamp, WireModel
from models.maintenance.status import DispatchOperation, DispatchStatus


class DispatchRecordPublic(WireModel):
    event_id: str
    event_type: str
    operation: DispatchOperation = Field(description="`dispatch` (the intake, or a retry) or `replay`")
    target: Literal["local", "workspace-backend"] = Field(description="`local`: the built-in backend")
    transport: Literal["local", "workspace-http"]
    workspace_backend_url: str | None = Field(None, description="HTTP backend only: its base URL")
    url: str | None = Field(None, description="HTTP backend only: the URL called")
    status: DispatchStatus
    run_ids: list[str] | None = Field(None, description="The runs the backend answered with")
    matched: int | float | None = Field(None, description="How many automations the event matched")
    idempotent: bool | None = Field(None, description="The backend already knew the event and started nothing")
    http_status: int | None = Field(None, description="A failed dispatch the backend answered non-2xx")
    error: str | None = Field(None, description="Why the dispatch failed")
    created_at: Timestamp


class DispatchRecordList(WireModel):
    dispatches: list[SerializeAsAny[DispatchRecordPublic]]
