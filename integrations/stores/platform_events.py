"""``append_event``: the one way a domain change emits a platform API v1 event (the transactional outbox).

The caller passes its own session: the event and its deliveries are written in the transaction of the
change that emits them, so a change is never committed without its event nor an event without its change.
The relay (``OutboxRelayWorkflow``) delivers them afterwards, at least once each. Event data never carries
amounts or secrets: callers pass ids, names and statuses.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.base import utcnow
from models.platform_v1.event_tables import EventDeliveryRow, EventRow
from models.platform_v1.events import DeliveryStatus, EventTopic, SubjectType, Subscriber, event_status
from models.platform_v1.notification_adapter import notification_adapter
from models.platform_v1.resource_events import TicketSource, resource_events
from models.platform_v1.tables import ResourceRow, SettingsRow

#: ``session.info`` key: the ids of the events this session appended with a delivery to make.
_TO_DELIVER = "platform_events.to_deliver"


def events_to_deliver(session: AsyncSession) -> list[str]:
    """The events appended through ``session`` that have a delivery to make: after its commit, the relay has
    work (the writer nudges it); an event nobody receives needs no relay."""
    return list(session.info.get(_TO_DELIVER, ()))


def new_event_id() -> str:
    return f"evt_{uuid.uuid4().hex}"


def notification_topics(workspace_settings: dict[str, Any]) -> frozenset[str]:
    """The topics a workspace's notification adapter receives: none without an adapter URL; else its
    configured ``topics``, or the seven of the source document."""
    adapter = notification_adapter(workspace_settings)
    return adapter.topics if adapter is not None else frozenset()


async def subscribers_of(session: AsyncSession, workspace_id: str, topic: EventTopic) -> list[Subscriber]:
    """Who receives ``topic`` in this workspace, as its settings stand when the event is written.

    Only the notification adapter, for now: the ``temporal`` subscriber (``TEMPORAL_TOPICS`` arming the SLA
    and overdue timers) gets its deliveries once those timer workflows exist. Until then a ``temporal``
    delivery would have nothing to deliver to and would sit ``pending`` forever, holding its event
    ``pending`` with it; ``Subscriber.TEMPORAL`` and ``TEMPORAL_TOPICS`` stay, for that change.
    """
    settings = await session.get(SettingsRow, f"workspace:{workspace_id}")
    if topic in notification_topics(settings.settings if settings is not None else {}):
        return [Subscriber.NOTIFICATIONS]
    return []


async def append_event(session: AsyncSession, *, workspace_id: str, topic: EventTopic, subject_type: SubjectType,
                       subject_id: str, data: dict[str, Any], correlation_id: str | None,
                       occurred_at: datetime | None = None) -> str:
    """Add an event and one pending delivery per subscriber to ``session``'s transaction; the event's id.
    The caller commits (or rolls back) the change and its event together."""
    now = utcnow()
    subscribers = await subscribers_of(session, workspace_id, topic)
    deliveries = [DeliveryStatus.PENDING] * len(subscribers)
    event = EventRow(id=new_event_id(), workspace_id=workspace_id, topic=str(topic), subject_type=str(subject_type),
                     subject_id=subject_id, data=data, occurred_at=occurred_at or now, correlation_id=correlation_id,
                     status=str(event_status(deliveries)), created_at=now)
    session.add(event)
    await session.flush()  # the deliveries' foreign key needs the event's row first (no ORM relationship orders them)
    if subscribers:
        session.info.setdefault(_TO_DELIVER, []).append(event.id)
    for subscriber in subscribers:
        session.add(EventDeliveryRow(event_id=event.id, subscriber=str(subscriber), workspace_id=workspace_id,
                                     status=str(DeliveryStatus.PENDING), next_attempt_at=now, updated_at=now))
    return event.id


async def append_resource_events(session: AsyncSession, row: ResourceRow, before: dict[str, Any] | None, action: str,
                                 changes: dict[str, Any], *, correlation_id: str | None,
                                 source: TicketSource = TicketSource.API) -> None:
    """The events of one change of a resource record (``models.platform_v1.resource_events``: which topics,
    which data, never an amount), appended in the change's transaction. Every writer of records (the API's
    store, an ingest, an import, an accounting sync) emits through here, so they all emit the same events."""
    for event in resource_events(row.kind, row.id, before, row.data, action, changes, source):
        await append_event(session, workspace_id=row.workspace_id, topic=event.topic, subject_type=event.subject_type,
                           subject_id=event.subject_id, data=event.data, correlation_id=correlation_id,
                           occurred_at=row.updated_at)
