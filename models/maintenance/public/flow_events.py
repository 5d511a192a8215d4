"""Flow events (update triggers): the record, its list, one event with its dispatches, and the answer of a
retry or replay."""

from __future__ import annotations

from typing import Any

from pydantic import Field, SerializeAsAny

from models.maintenance.public.base import Timestamp, WireModel
from models.maintenance.public.dispatches import DispatchRecordPublic


class FlowEventPublic(WireModel):
    """A stored flow event, as the poll wrote it."""

    id: str = Field(description="`patch:<sourceId>:<entryId>:<eventType>`")
    type: str = Field(description="The source target's `eventType`")
    source: str | None = Field(None, description="Always `patch`")
    occurred_at: Timestamp | None = Field(None, description="When the entry was published (git: first seen)")
    received_at: Timestamp | None = Field(None, description="When the poll stored it")
    payload: dict[str, Any] | None = Field(None, description="The entry's fields, with the target's `payload` "
                                                             "merged over them")


class FlowEventList(WireModel):
    events: list[SerializeAsAny[FlowEventPublic]]


class FlowEventWithDispatches(WireModel):
    event: SerializeAsAny[FlowEventPublic]
    dispatches: list[SerializeAsAny[DispatchRecordPublic]] = Field(description="Its dispatch records, newest first")


class FlowEventDispatchAnswer(WireModel):
    """What a retry or replay answers: 202 when the backend took the event, 502 (same body) when it failed."""

    event: SerializeAsAny[FlowEventPublic]
    record: SerializeAsAny[DispatchRecordPublic]
