"""``POST /api/v1/events/ingest``: a batch of events, applied all or nothing in the caller's transaction.

In order, nothing written until the batch is known good:

1. an ``endpoint_agent`` proves its enrollment (``ingest_enrollment``; 403 ``enrollment_invalid``);
2. the body and each event's ``data`` are validated by type (400 ``validation_error`` naming every bad field as
   ``body.events[3].data.severity``), an id twice in the batch is 400 ``duplicate_event_id``;
3. the batch's event ids are inserted in one statement, ``ON CONFLICT DO NOTHING``: the ids it returns are the
   accepted events, the others the workspace already had (duplicates, not applied again). The primary key
   decides, so two concurrent batches holding one id never both apply it (the second waits for the first's
   commit). The ids go in sorted, so two batches lock shared ids in one order and cannot deadlock on them;
4. the records the accepted events change or name are locked in id order (``ResourceStore.hold``), then the
   events take effect in the batch's order: telemetry and heartbeats are stored by that insert;
   an alert is created and an asset's status set through ``ResourceStore`` (the one writer of records, which
   audits them with the caller as actor, checks their references and emits their events); ``pipeline.failed``
   is appended to the outbox. A reference to no record of the workspace is 400 ``invalid_reference`` naming the
   event's field, and the whole batch rolls back;
5. the batch's record.

The route commits all of it with its answer under its ``Idempotency-Key``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ValidationError
from pydantic_core import to_json
from sqlalchemy import bindparam, text
from sqlalchemy import exc as sa_exc
from sqlalchemy.dialects.postgresql import ARRAY, TIMESTAMP
from sqlalchemy.types import Text
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import ApiError, BadRequest, Forbidden, ServiceUnavailable
from api.platform_v1.caller import Caller
from api.platform_v1.services.ingest_enrollment import enrollment_allows, needs_enrollment
from api.platform_v1.services.resources import ResourceStore
from integrations.stores.platform_events import append_event
from models.common.base import iso_z, utcnow
from models.platform_v1.catalog import BY_NAME
from models.platform_v1.events import EventTopic, SubjectType
from models.platform_v1.ingest import (
    DATA_MODELS,
    MAX_TELEMETRY_BYTES,
    SOURCE_MAX_LENGTH,
    STORED_TYPES,
    AlertTriggeredData,
    AssetStateChangedData,
    IngestBody,
    IngestEvent,
    PipelineFailedData,
    event_time,
)
from models.platform_v1.ingest_tables import IngestBatchRow

#: How many bad fields a refusal lists (a batch of 500 broken events names the first ones).
FIELDS_SHOWN = 50
#: Postgres' answers to two transactions that wait on each other: nothing was written, the batch may be sent again.
RETRYABLE_STATES = frozenset({"40P01", "40001"})

INSERT_EVENT_IDS = text(
    "INSERT INTO platform_ingest_events (workspace_id, event_id, batch_id, type, occurred_at, data) "
    "SELECT :workspace_id, e.event_id, :batch_id, e.type, e.occurred_at, e.data::jsonb "
    "FROM unnest(:event_ids, :types, :times, :data) AS e(event_id, type, occurred_at, data) "
    "ORDER BY e.event_id "
    "ON CONFLICT (workspace_id, event_id) DO NOTHING RETURNING event_id"
).bindparams(bindparam("event_ids", type_=ARRAY(Text)), bindparam("types", type_=ARRAY(Text)),
             bindparam("times", type_=ARRAY(TIMESTAMP(timezone=True))), bindparam("data", type_=ARRAY(Text)))


class EnrollmentInvalid(Forbidden):
    code = "enrollment_invalid"


def field_path(loc: tuple[Any, ...] | list[Any]) -> str:
    """A pydantic location as the API names fields: ``("events", 3, "data", "severity")`` →
    ``body.events[3].data.severity``."""
    path = "body"
    for part in loc:
        path += f"[{part}]" if isinstance(part, int) else f".{part}"
    return path


def _field(loc: tuple[Any, ...], message: str, kind: str) -> dict[str, Any]:
    return {"field": field_path(loc), "message": message, "type": kind}


def _refusal(what: str, fields: list[dict[str, Any]], code: str = "validation_error") -> BadRequest:
    summary = "; ".join(f"{f['field']}: {f['message']}" for f in fields[:5])
    more = f" (and {len(fields) - 5} more)" if len(fields) > 5 else ""
    return BadRequest(f"{what}: {summary}{more}", code=code, extra={"fields": fields[:FIELDS_SHOWN]})


def _errors(error: ValidationError, prefix: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    return [_field((*prefix, *item["loc"]), item["msg"], item["type"])
            for item in error.errors(include_url=False, include_input=False)]


class CheckedEvent:
    """An event of a valid batch: its place in the batch, its typed data, and the stored JSON of telemetry."""

    __slots__ = ("index", "event", "data", "stored")

    def __init__(self, index: int, event: IngestEvent, data: BaseModel | None, stored: str | None) -> None:
        self.index, self.event, self.data, self.stored = index, event, data, stored


def parse_batch(raw: bytes) -> tuple[IngestBody, list[CheckedEvent]]:
    """The batch and its events with their typed data, or 400 naming every bad field."""
    try:
        # JSON's types, strictly: a count is not "3", a time not 1700000000.
        body = IngestBody.model_validate_json(raw or b"null", strict=True)
    except ValidationError as error:
        raise _refusal("invalid batch", _errors(error)) from None
    fields: list[dict[str, Any]] = []
    checked: list[CheckedEvent] = []
    for index, event in enumerate(body.events):
        data: BaseModel | None = None
        stored: str | None = None
        if event.type in STORED_TYPES:
            stored = to_json(event.data).decode()
            if len(stored.encode()) > MAX_TELEMETRY_BYTES:
                fields.append(_field(("events", index, "data"), f"at most {MAX_TELEMETRY_BYTES} bytes of JSON "
                                     f"(this is {len(stored.encode())})", "too_large"))
        else:
            try:
                data = DATA_MODELS[event.type].model_validate_json(to_json(event.data), strict=True)
            except ValidationError as error:
                fields += _errors(error, ("events", index, "data"))
        checked.append(CheckedEvent(index, event, data, stored))
    if fields:
        raise _refusal("invalid batch", fields)
    first: dict[str, int] = {}
    repeated = []
    for index, event in enumerate(body.events):
        if event.id in first:
            repeated.append(_field(("events", index, "id"), f"the id of events[{first[event.id]}] too: each event "
                                   "of a batch has its own id", "duplicate_event_id"))
        first.setdefault(event.id, index)
    if repeated:
        raise _refusal("the same event id twice in one batch", repeated, code="duplicate_event_id")
    return body, checked


def new_batch_id() -> str:
    return f"ibt_{uuid.uuid4().hex}"


class Ingest:
    """One batch, applied in the caller's workspace and transaction."""

    def __init__(self, db: AsyncSession, caller: Caller) -> None:
        self.db = db
        self.caller = caller
        self.workspace_id = caller.tenant
        self.store = ResourceStore(db, caller)

    async def run(self, raw: bytes, enrollment_token: str | None) -> dict[str, Any]:
        """The batch's record (``IngestBatchPublic``'s shape), once applied; the caller commits."""
        if needs_enrollment(self.caller) and not await enrollment_allows(self.db, self.workspace_id,
                                                                          enrollment_token):
            raise EnrollmentInvalid("an endpoint_agent must send the workspace's enrollment token in "
                                    "x-enrollment-token (POST /api/v1/edge-agent/enrollment/rotate issues it)")
        body, events = parse_batch(raw)
        source = body.source or self.caller.actor[:SOURCE_MAX_LENGTH]
        try:
            return await self._apply(source, events)
        except sa_exc.DBAPIError as error:
            if getattr(error.orig, "sqlstate", None) in RETRYABLE_STATES:
                raise ServiceUnavailable("another batch changed the same records at the same moment; nothing of "
                                         "this batch was applied: send it again", code="ingest_conflict",
                                         headers={"Retry-After": "1"}) from None
            raise

    async def _apply(self, source: str, events: list[CheckedEvent]) -> dict[str, Any]:
        received_at = utcnow()
        batch_id = new_batch_id()
        accepted = await self._accept(batch_id, events, received_at)
        await self._hold_records([checked for checked in events if checked.event.id in accepted])
        by_type: Counter[str] = Counter({str(checked.event.type): 0 for checked in events})
        for checked in events:
            if checked.event.id not in accepted:
                continue
            by_type[str(checked.event.type)] += 1
            await self._effect(source, checked, received_at)
        batch = IngestBatchRow(id=batch_id, workspace_id=self.workspace_id, source=source, received=len(events),
                               accepted=len(accepted), duplicates=len(events) - len(accepted), by_type=dict(by_type),
                               created_at=received_at, created_by=self.caller.actor,
                               correlation_id=self.caller.correlation_id)
        self.db.add(batch)
        await self.db.flush()
        return batch_view(batch)

    async def _accept(self, batch_id: str, events: list[CheckedEvent], received_at: datetime) -> set[str]:
        """Insert the batch's ids; the ones the workspace did not have yet (the unique key decides)."""
        rows = await self.db.exec(INSERT_EVENT_IDS, params={  # type: ignore[call-overload]
            "workspace_id": self.workspace_id, "batch_id": batch_id,
            "event_ids": [c.event.id for c in events], "types": [str(c.event.type) for c in events],
            "times": [event_time(c.event, received_at) for c in events], "data": [c.stored for c in events]})
        return {event_id for (event_id,) in rows.all()}

    async def _hold_records(self, events: list[CheckedEvent]) -> None:
        """Lock every record the events change or name, in id order, before the first change: the assets whose
        status changes as a change would, the records alerts name as a reference would. Two batches then wait
        for each other's records in one order (a batch that locked an asset to change it, while another held
        the alerts' count and waited to name that asset, deadlocked)."""
        exclusive: dict[str, tuple[str, bool]] = {}
        for checked in events:
            data = checked.data
            if isinstance(data, AssetStateChangedData):
                exclusive[data.assetId] = ("assets", True)
            elif isinstance(data, AlertTriggeredData):
                for resource_id, kind in ((data.assetId, "assets"), (data.clientId, "clients")):
                    if resource_id is not None:
                        exclusive.setdefault(resource_id, (kind, False))
        for resource_id in sorted(exclusive):
            kind, changes = exclusive[resource_id]
            await self.store.hold(BY_NAME[kind], resource_id, exclusive=changes)

    async def _effect(self, source: str, checked: CheckedEvent, received_at: datetime) -> None:
        event, data = checked.event, checked.data
        try:
            if isinstance(data, AlertTriggeredData):
                alert = {"title": data.title, "severity": str(data.severity), "status": "open",
                         **data.model_dump(mode="json", exclude_none=True, exclude={"title", "severity"})}
                await self.store.create(BY_NAME["alerts"], alert)
            elif isinstance(data, AssetStateChangedData):
                await self.store.patch(BY_NAME["assets"], data.assetId, {"status": str(data.status)}, None)
            elif isinstance(data, PipelineFailedData):
                await append_event(self.db, workspace_id=self.workspace_id, topic=EventTopic.PIPELINE_FAILED,
                                   subject_type=SubjectType.PIPELINE, subject_id=f"{source}:{event.id}",
                                   data=pipeline_failed_data(source, event, data),
                                   correlation_id=self.caller.correlation_id,
                                   occurred_at=event_time(event, received_at))
        except ApiError as refused:
            raise event_refusal(checked, refused) from None


def pipeline_failed_data(source: str, event: IngestEvent, data: PipelineFailedData) -> dict[str, Any]:
    """The shape of a GitHub ``pipeline.failed`` (provider, repository, pipeline, url, branch, sha), with the
    ingest's source and event id in place of GitHub's run."""
    return {"provider": "ingest", "source": source, "eventId": event.id, "pipeline": data.pipeline,
            "repository": data.repository, "url": data.url, "branch": data.branch, "sha": data.sha}


def event_refusal(checked: CheckedEvent, refused: ApiError) -> ApiError:
    """A record store's refusal as the batch's: a record the event names that this workspace does not hold
    (404, or 410 for a deleted one) is 400 ``invalid_reference``, and fields are named inside the event."""
    prefix = f"body.events[{checked.index}].data"
    fields = [{**item, "field": item["field"].replace("body", prefix, 1)} for item in refused.extra.get("fields", [])]
    if refused.status_code in (404, 410) and isinstance(checked.data, AssetStateChangedData):
        fields = [{"field": f"{prefix}.assetId", "message": "names no record of this workspace",
                   "type": "invalid_reference"}]
        return BadRequest(f"events[{checked.index}]: no asset {checked.data.assetId} in this workspace",
                          code="invalid_reference", extra={"fields": fields})
    detail = f"events[{checked.index}] ({checked.event.id}): {refused.detail}"
    refused_again = type(refused)(detail, code=refused.code, headers=refused.headers,
                                  extra={**refused.extra, **({"fields": fields} if fields else {})})
    return refused_again


def batch_view(row: IngestBatchRow) -> dict[str, Any]:
    """A batch in its wire shape (``IngestBatchPublic``), JSON-ready."""
    return {"id": row.id, "workspaceId": row.workspace_id, "source": row.source, "received": row.received,
            "accepted": row.accepted, "duplicates": row.duplicates, "byType": row.by_type,
            "createdAt": iso_z(row.created_at), "createdBy": row.created_by, "correlationId": row.correlation_id}
