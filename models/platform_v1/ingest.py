"""``POST /api/v1/events/ingest``: the batch an edge agent, an RMM or an integration sends, and what it answers.

A batch holds 1–``MAX_BATCH_EVENTS`` events; each names its ``type`` (``IngestEventType``), and each type its
``data`` (the models below). ``telemetry`` and ``heartbeat`` carry a free-form object of at most
``MAX_TELEMETRY_BYTES`` (its compact JSON, UTF-8), stored as sent. The answer is the batch's record
(``IngestBatchPublic``); ``GET /api/v1/edge-agent/ingest-status`` sums them up (``IngestStatusPublic``).
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from models.platform_v1.contracts import Timestamp
from models.platform_v1.schemas import AlertSeverity, AssetStatus, Moment, Name, Ref, Short, Text

MAX_BATCH_EVENTS = 500
MAX_TELEMETRY_BYTES = 16 * 1024
#: ``GET /edge-agent/ingest-status`` lists at most this many sources.
MAX_STATUS_SOURCES = 50
SOURCE_MAX_LENGTH = 200
EVENT_ID_MAX_LENGTH = 200

Source = Annotated[str, Field(min_length=1, max_length=SOURCE_MAX_LENGTH)]
EventId = Annotated[str, Field(min_length=1, max_length=EVENT_ID_MAX_LENGTH)]
Url = Annotated[str, Field(max_length=2000, pattern=r"^https?://[^\s@/]+(/\S*)?$")]


class IngestEventType(StrEnum):
    TELEMETRY = "telemetry"
    HEARTBEAT = "heartbeat"
    ALERT_TRIGGERED = "alert.triggered"
    ASSET_STATE_CHANGED = "asset.state_changed"
    PIPELINE_FAILED = "pipeline.failed"


#: The types whose ``data`` is stored as sent (the other types change records or emit an event).
STORED_TYPES = frozenset({IngestEventType.TELEMETRY, IngestEventType.HEARTBEAT})


class _Data(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class AlertTriggeredData(_Data):
    """Creates an ``open`` alert (which emits ``alert.triggered``)."""

    title: Name
    severity: AlertSeverity
    assetId: Ref | None = None
    clientId: Ref | None = None
    source: Short | None = None
    details: Text | None = None


class AssetStateChangedData(_Data):
    """Sets the asset's ``status`` (audited with the caller as actor; emits ``asset.state_changed`` if it changed)."""

    assetId: Ref
    status: AssetStatus


class PipelineFailedData(_Data):
    """Emits ``pipeline.failed`` about the pipeline ``<source>:<event id>``."""

    pipeline: Name
    repository: Name | None = None
    url: Url | None = None
    branch: Name | None = None
    sha: Annotated[str, Field(min_length=1, max_length=64)] | None = None


#: The model of each type's ``data`` (``telemetry`` and ``heartbeat``: any object up to the size limit).
DATA_MODELS: dict[IngestEventType, type[_Data]] = {
    IngestEventType.ALERT_TRIGGERED: AlertTriggeredData,
    IngestEventType.ASSET_STATE_CHANGED: AssetStateChangedData,
    IngestEventType.PIPELINE_FAILED: PipelineFailedData,
}


class IngestEvent(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: EventId = Field(description="Identifies the event in the workspace: one already accepted is a duplicate.")
    type: IngestEventType
    occurredAt: Moment | None = Field(None, description="When it happened; default: when it was received.")
    data: dict[str, Any] = Field(default_factory=dict, description=(
        "By `type`: `telemetry`, `heartbeat`: any object of at most 16 KiB; `alert.triggered`: `title`, `severity` "
        "(`info`, `warning`, `error`, `critical`), optional `assetId`, `clientId`, `source`, `details`; "
        "`asset.state_changed`: `assetId`, `status`; `pipeline.failed`: `pipeline`, optional `repository`, `url`, "
        "`branch`, `sha`."))


class IngestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    source: Source | None = Field(None, description="Where the events come from; default: the token's `sub`.")
    events: list[IngestEvent] = Field(min_length=1, max_length=MAX_BATCH_EVENTS)


class IngestBatchPublic(BaseModel):
    """One accepted batch: how many events it held, how many were new, how many the workspace already had."""

    id: str = Field(description="`ibt_` + 32 hex digits.")
    workspaceId: str
    source: str
    received: int
    accepted: int
    duplicates: int = Field(description="Events whose `id` the workspace had already accepted: not applied again.")
    byType: dict[str, int] = Field(description="Each type the batch held: how many of its events were accepted.")
    createdAt: Timestamp
    createdBy: str | None
    correlationId: str | None


class IngestWindow(BaseModel):
    batches: int
    events: int = Field(description="Accepted events.")
    duplicates: int


class IngestSourcePublic(BaseModel):
    source: str
    lastIngestAt: Timestamp
    batches: int = Field(description="Batches of the last 24 hours.")
    events: int = Field(description="Events of the last 24 hours that were accepted.")


class IngestStatusPublic(BaseModel):
    workspaceId: str
    enrolled: bool = Field(description="Whether the workspace has an enrollment token an edge agent can send.")
    lastIngestAt: Timestamp | None
    last24h: IngestWindow
    sources: list[IngestSourcePublic] = Field(description="The sources of the last 24 hours, most recent first, "
                                                          "at most 50.")


def event_time(event: IngestEvent, received_at: datetime) -> datetime:
    return event.occurredAt or received_at
