"""The outbox as the API shows and acts on it: the list of a workspace's events with their deliveries, the
retry of a failed event, the relay's nudge, and the notification test's start.

The events themselves are written by the changes that emit them (``ResourceStore`` → ``append_event``); the
relay (``OutboxRelayWorkflow``) delivers them. After a commit that wrote an event with a delivery to make, the
route nudges the relay's Schedule (``nudge_relay``), which never fails the request: the Schedule's sweep catches up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, Text, cast, func, or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common.errors import Conflict, NotFound
from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.common.temporal_calls import WorkflowStart, nudge_schedule, run_workflow
from api.platform_v1.caller import Caller
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from integrations.stores.outbox_relay import event_message, retry_failed
from integrations.stores.platform_events import events_to_deliver, new_event_id
from models.platform_v1.event_contracts import DeliveryPublic, EventPublic, NotificationTestPublic
from models.platform_v1.event_tables import EventDeliveryRow, EventRow
from models.platform_v1.events import EventStatus, EventTopic
from models.platform_v1.notification_adapter import notification_adapter
from models.platform_v1.outbox_io import NotificationTestInput, NotificationTestResult, OutboxWorkflowName
from models.platform_v1.tables import SettingsRow
from models.platform_v1.workflow_ids import outbox_relay_schedule_id, workspace_workflow_id

OUTBOX_SORTS = SortFields(columns={"occurredAt": EventRow.occurred_at}, default_by="occurredAt",
                          default_order=SortOrder.DESC)
#: How long ``POST /integrations/notifications/test`` waits for its one delivery.
NOTIFICATION_TEST_WAIT_SECONDS = 15.0


class AdapterNotConfigured(Conflict):
    code = "adapter_not_configured"


@dataclass(frozen=True)
class OutboxQuery:
    limit: int
    offset: int
    sort: Sort
    topic: EventTopic | None
    status: EventStatus | None
    subject_id: str | None
    q: str | None


def _like(text: str) -> str:
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def event_view(event: EventRow, deliveries: list[EventDeliveryRow]) -> EventPublic:
    deliveries = sorted(deliveries, key=lambda row: row.subscriber)
    return EventPublic.model_construct(
        **{**event_message(event), "occurredAt": event.occurred_at}, status=EventStatus(event.status),
        deliveries=[DeliveryPublic.model_construct(subscriber=row.subscriber, status=row.status, attempts=row.attempts,
                                                   lastError=row.last_error, deliveredAt=row.delivered_at)
                    for row in deliveries])


async def _views(db: AsyncSession, events: list[EventRow]) -> list[EventPublic]:
    ids = [event.id for event in events]
    rows = (await db.exec(select(EventDeliveryRow).where(col(EventDeliveryRow.event_id).in_(ids)))).all() if ids else []
    by_event: dict[str, list[EventDeliveryRow]] = {}
    for row in rows:
        by_event.setdefault(row.event_id, []).append(row)
    return [event_view(event, by_event.get(event.id, [])) for event in events]


async def outbox_page(db: AsyncSession, caller: Caller, query: OutboxQuery) -> ListPage[EventPublic]:
    conditions: list[Any] = [EventRow.workspace_id == caller.tenant]
    if query.topic is not None:
        conditions.append(EventRow.topic == query.topic)
    if query.status is not None:
        conditions.append(EventRow.status == query.status)
    if query.subject_id is not None:
        conditions.append(EventRow.subject_id == query.subject_id)
    if query.q:
        pattern = _like(query.q)
        conditions.append(or_(*(column.ilike(pattern, escape="\\") for column in (
            col(EventRow.id), col(EventRow.topic), col(EventRow.subject_id), cast(EventRow.data, Text)))))
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(EventRow).where(*conditions))).one()
    tiebreak = col(EventRow.id).desc() if query.sort.order == SortOrder.DESC else col(EventRow.id).asc()
    rows = (await db.exec(OUTBOX_SORTS.apply(select(EventRow).where(*conditions), query.sort, tiebreak=tiebreak)
                          .limit(query.limit).offset(query.offset))).all()
    filters = {"topic": query.topic, "status": query.status, "subjectId": query.subject_id, "q": query.q}
    return list_page(await _views(db, list(rows)), limit=query.limit, offset=query.offset, total=total,
                     sort=query.sort, filters=filters)


async def retry_failed_event(db: AsyncSession, caller: Caller, event_id: str) -> EventPublic:
    """The event's failed deliveries back to pending, attempts reset (flushed; the caller commits). 404 for no
    event of this workspace; 409 ``invalid_transition`` with ``currentStatus`` for one that is not failed."""
    event, retried = await retry_failed(db, caller.tenant, event_id)
    if event is None:
        raise NotFound(f"no event {event_id} in this workspace", code="not_found")
    if not retried:
        raise Conflict(f"event {event_id} is {event.status}: only a failed event is retried",
                       code="invalid_transition", extra={"currentStatus": event.status})
    [view] = await _views(db, [event])
    return view


def relay_schedule_id(settings: Settings) -> str:
    return outbox_relay_schedule_id(surface_task_queue(settings.temporal, WorkerSurfaceName.PLATFORM_V1))


async def nudge_relay(client: Client, settings: Settings, db: AsyncSession) -> None:
    """After ``db``'s commit: ask the relay to sweep now if it appended an event with a delivery to make (a
    hint; never an error)."""
    if events_to_deliver(db):
        await nudge_schedule(client, relay_schedule_id(settings))


async def nudge_relay_now(client: Client, settings: Settings) -> None:
    """Ask the relay to sweep now (a retried event's deliveries are due)."""
    await nudge_schedule(client, relay_schedule_id(settings))


async def send_test_notification(db: AsyncSession, client: Client, settings: Settings, caller: Caller,
                            message: str | None) -> NotificationTestPublic:
    """One delivery of ``notification.test`` by ``NotificationTestWorkflow``, waited for up to 15 s (then 503
    ``no_worker``). 409 ``adapter_not_configured`` without the workspace's ``integrations.notifications``."""
    stored = await db.get(SettingsRow, f"workspace:{caller.tenant}")
    adapter = notification_adapter(stored.settings if stored is not None else None)
    await db.rollback()  # no connection held while Temporal works
    if adapter is None:
        raise AdapterNotConfigured("the workspace has no integrations.notifications setting (its url): set it with "
                                   "PUT /api/v1/workspace/settings")
    event_id = new_event_id()
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.PLATFORM_V1)
    start = WorkflowStart(OutboxWorkflowName.NOTIFICATION_TEST, NotificationTestInput(
        workspace_id=caller.tenant, event_id=event_id, message=message, correlation_id=caller.correlation_id),
        {"id": workspace_workflow_id(queue, caller.tenant, "notification-test", event_id), "task_queue": queue})
    result = await run_workflow(client, start, timeout=NOTIFICATION_TEST_WAIT_SECONDS,
                                result_type=NotificationTestResult)
    return NotificationTestPublic.model_construct(delivered=result.delivered, httpStatus=result.http_status,
                                                  error=result.error, durationMs=result.duration_ms,
                                                  eventId=result.event_id)
