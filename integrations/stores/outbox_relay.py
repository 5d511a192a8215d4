"""The relay's side of the outbox: claim due deliveries, record each try's outcome, put failed ones back.

- ``claim_due`` takes up to ``limit`` pending deliveries whose time has come, ``FOR UPDATE SKIP LOCKED`` (two
  relays never take the same rows), counts the try (``attempts + 1``) and leases them for ``lease``
  (``next_attempt_at`` moves past the try), then commits: no lock is held during the HTTP call. A relay
  that dies before it records the outcome loses nothing: once the lease is over the delivery is due again
  and is sent again (at least once; ``x-capstan-delivery`` lets a receiver drop the copy). Tries stay
  bounded even so: a delivery found due with its last try used and no outcome recorded is ``failed``
  (``LOST_OUTCOME``), for an operator to retry, rather than tried forever.
- ``record_outcome`` writes one try's outcome if the delivery is still the one claimed (same ``attempts``,
  still pending; a stale claim changes nothing): delivered; or again after a backoff of 1, 2, 4 s …;
  or ``failed`` once ``max_attempts`` tries are used. The event's status follows its deliveries
  (``event_status``) in the same transaction, under the event's row lock.
- ``retry_failed`` puts an event's failed deliveries back to pending with their attempts reset.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from capstan.db import SessionFactory, session_scope
from capstan.secrets import SecretBox, SecretsUnreadable
from models.common.base import iso_z, utcnow
from models.platform_v1.event_tables import EventDeliveryRow, EventRow
from models.platform_v1.events import DeliveryStatus, EventStatus, Subscriber, event_status
from models.platform_v1.notification_adapter import SIGNING_SECRET_KEY, NotificationAdapter, notification_adapter
from models.platform_v1.tables import SecretRow, SettingsRow

#: Past the longest try (an adapter's ``timeoutSeconds`` is at most 30 s) and the activity's own timeout.
DEFAULT_LEASE = timedelta(seconds=90)
MAX_BACKOFF_SECONDS = 300
#: The error of a delivery whose last allowed try never recorded its outcome.
LOST_OUTCOME = "the relay stopped during the last try, whose outcome is unknown"


@dataclass(frozen=True)
class ClaimedDelivery:
    event_id: str
    workspace_id: str
    subscriber: str
    #: The try this claim makes (1 for the first): ``record_outcome`` writes only while it is still this one.
    attempt: int
    topic: str
    correlation_id: str | None
    #: The notification's body: ``{id, workspaceId, topic, subject, data, occurredAt, correlationId}``.
    message: dict[str, Any]


def event_message(event: EventRow) -> dict[str, Any]:
    return {"id": event.id, "workspaceId": event.workspace_id, "topic": event.topic,
            "subject": {"type": event.subject_type, "id": event.subject_id}, "data": event.data,
            "occurredAt": iso_z(event.occurred_at), "correlationId": event.correlation_id}


def backoff(attempts: int) -> timedelta:
    """After try ``attempts`` failed: 1 s, 2 s, 4 s, … (at most ``MAX_BACKOFF_SECONDS``)."""
    return timedelta(seconds=min(2 ** max(attempts - 1, 0), MAX_BACKOFF_SECONDS))


async def claim_due(sessions: SessionFactory, *, limit: int, max_attempts: int, lease: timedelta = DEFAULT_LEASE,
                    now: datetime | None = None) -> list[ClaimedDelivery]:
    now = now or utcnow()
    exhausted: list[ClaimedDelivery] = []
    async with session_scope(sessions) as session:
        due = (await session.exec(
            select(EventDeliveryRow)
            .where(EventDeliveryRow.status == DeliveryStatus.PENDING,
                   EventDeliveryRow.subscriber == Subscriber.NOTIFICATIONS,
                   col(EventDeliveryRow.next_attempt_at) <= now)
            .order_by(col(EventDeliveryRow.next_attempt_at)).limit(limit)
            .with_for_update(skip_locked=True))).all()
        if not due:
            return []
        events = {event.id: event for event in (await session.exec(
            select(EventRow).where(col(EventRow.id).in_([row.event_id for row in due])))).all()}
        claimed = []
        for row in due:
            event = events[row.event_id]
            if row.attempts >= max_attempts:  # its last try's outcome was lost: failed below, not tried again
                exhausted.append(_claim(row, event))
                continue
            row.attempts += 1
            row.next_attempt_at = now + lease
            row.updated_at = now
            session.add(row)
            claimed.append(_claim(row, event))
    for lost in exhausted:  # each in its own transaction, locking as record_outcome always does (event first)
        await record_outcome(sessions, lost, delivered=False, error=LOST_OUTCOME, max_attempts=max_attempts, now=now)
    return claimed


def _claim(row: EventDeliveryRow, event: EventRow) -> ClaimedDelivery:
    return ClaimedDelivery(event_id=row.event_id, workspace_id=row.workspace_id, subscriber=row.subscriber,
                           attempt=row.attempts, topic=event.topic, correlation_id=event.correlation_id,
                           message=event_message(event))


async def refresh_event_status(session: AsyncSession, event: EventRow) -> EventStatus:
    """Set ``event.status`` from its deliveries as this transaction sees them (the caller holds its row lock)."""
    statuses = (await session.exec(select(EventDeliveryRow.status)
                                   .where(EventDeliveryRow.event_id == event.id))).all()
    status = event_status([DeliveryStatus(value) for value in statuses])
    if event.status != status:
        event.status = str(status)
        session.add(event)
    return status


async def _locked_event(session: AsyncSession, event_id: str, workspace_id: str | None = None) -> EventRow | None:
    query = select(EventRow).where(EventRow.id == event_id)
    if workspace_id is not None:
        query = query.where(EventRow.workspace_id == workspace_id)
    return (await session.exec(query.with_for_update())).first()


async def record_outcome(sessions: SessionFactory, claim: ClaimedDelivery, *, delivered: bool, error: str | None,
                         max_attempts: int, now: datetime | None = None) -> DeliveryStatus | None:
    """Write one try's outcome; the delivery's status after it, or ``None`` for a claim that is stale."""
    now = now or utcnow()
    async with session_scope(sessions) as session:
        event = await _locked_event(session, claim.event_id)
        row = (await session.exec(select(EventDeliveryRow).where(
            EventDeliveryRow.event_id == claim.event_id, EventDeliveryRow.subscriber == claim.subscriber,
            EventDeliveryRow.status == DeliveryStatus.PENDING, EventDeliveryRow.attempts == claim.attempt)
            .with_for_update())).first()
        if event is None or row is None:
            return None
        if delivered:
            row.status, row.delivered_at, row.last_error = str(DeliveryStatus.DELIVERED), now, None
        else:
            row.last_error = error
            if row.attempts >= max_attempts:
                row.status = str(DeliveryStatus.FAILED)
            else:
                row.next_attempt_at = now + backoff(row.attempts)
        row.updated_at = now
        session.add(row)
        await session.flush()
        await refresh_event_status(session, event)
        return DeliveryStatus(row.status)


async def retry_failed(session: AsyncSession, workspace_id: str, event_id: str) -> tuple[EventRow | None, bool]:
    """Put the event's failed deliveries back to pending (attempts 0, due now), in the caller's transaction:
    ``(event, True)``; ``(event, False)`` when the event is not failed; ``(None, False)`` when the workspace has
    no such event."""
    event = await _locked_event(session, event_id, workspace_id)
    if event is None or event.status != EventStatus.FAILED:
        return event, False
    now = utcnow()
    await session.exec(update(EventDeliveryRow)  # type: ignore[call-overload]
                       .where(col(EventDeliveryRow.event_id) == event_id,
                              col(EventDeliveryRow.status) == DeliveryStatus.FAILED)
                       .values(status=str(DeliveryStatus.PENDING), attempts=0, next_attempt_at=now, updated_at=now))
    await refresh_event_status(session, event)
    await session.flush()
    return event, True


@dataclass(frozen=True)
class NotificationTarget:
    """Where and how a workspace's notifications go, as its settings and secrets stand now; ``problem`` says
    why none can be sent (no adapter, or a signing secret this worker cannot open: never sent unsigned)."""

    adapter: NotificationAdapter | None
    signing_secret: str | None
    problem: str | None = None


NO_ADAPTER = "the workspace has no notification adapter (integrations.notifications.url)"


async def notification_target(sessions: SessionFactory, box: SecretBox, workspace_id: str) -> NotificationTarget:
    scope = f"workspace:{workspace_id}"
    async with sessions() as session:
        settings = await session.get(SettingsRow, scope)
        secret = await session.get(SecretRow, (scope, SIGNING_SECRET_KEY))
    adapter = notification_adapter(settings.settings if settings is not None else None)
    if adapter is None:
        return NotificationTarget(None, None, NO_ADAPTER)
    try:
        return NotificationTarget(adapter, box.open_value(secret.sealed_value) if secret is not None else None)
    except SecretsUnreadable:
        return NotificationTarget(adapter, None, f"the signing secret {SIGNING_SECRET_KEY} cannot be opened with "
                                                 "this worker's CAPSTAN_SECRETS_KEY")
