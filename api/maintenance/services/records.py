"""Reading the maintenance records: newest first, filters before the limit.

Records are stored in their wire shape and answered as stored: each answer is its envelope around the
stored dicts (``stored_envelope``), serialised once."""

from __future__ import annotations

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import NotFound
from models.maintenance.public import (
    DispatchRecordList,
    FlowEventList,
    FlowEventWithDispatches,
    MaintenanceAttemptEnvelope,
    MaintenanceAttemptList,
    StoredRecord,
    stored_envelope,
)
from models.maintenance.tables import AttemptRow, DispatchRow, FlowEventRow


async def list_flow_events(session: AsyncSession, *, type: str | None, limit: int  # noqa: A002
                           ) -> FlowEventList:
    query = select(FlowEventRow.body)
    if type:
        query = query.where(FlowEventRow.type == type)
    rows = (await session.exec(query.order_by(col(FlowEventRow.seq).desc()).limit(limit))).all()
    return stored_envelope(FlowEventList, events=list(rows))


async def flow_event_or_404(session: AsyncSession, event_id: str) -> StoredRecord:
    body = (await session.exec(select(FlowEventRow.body).where(FlowEventRow.id == event_id))).first()
    if body is None:
        raise NotFound(f"flow event {event_id!r} not found", code="flow_event_not_found")
    return body


async def _dispatches(session: AsyncSession, *, event_id: str | None, status: str | None,
                      limit: int) -> list[StoredRecord]:
    query = select(DispatchRow.body)
    if event_id is not None:
        query = query.where(DispatchRow.event_id == event_id)
    if status:
        query = query.where(DispatchRow.status == status)
    return list((await session.exec(query.order_by(col(DispatchRow.seq).desc()).limit(limit))).all())


async def read_flow_event(session: AsyncSession, event_id: str, *, limit: int) -> FlowEventWithDispatches:
    """The event and its dispatch records, newest first."""
    event = await flow_event_or_404(session, event_id)
    return stored_envelope(FlowEventWithDispatches, event=event,
                           dispatches=await _dispatches(session, event_id=event_id, status=None, limit=limit))


async def list_dispatches(session: AsyncSession, *, event_id: str | None, status: str | None,
                          limit: int) -> DispatchRecordList:
    return stored_envelope(DispatchRecordList,
                           dispatches=await _dispatches(session, event_id=event_id, status=status, limit=limit))


async def list_attempts(session: AsyncSession, *, event_id: str | None, status: str | None,
                        limit: int) -> MaintenanceAttemptList:
    """The latest record of each attempt, filtered on that record, most recently written first."""
    query = select(AttemptRow.body).where(col(AttemptRow.latest))
    if event_id is not None:
        query = query.where(AttemptRow.event_id == event_id)
    if status:
        query = query.where(AttemptRow.status == status)
    rows = (await session.exec(query.order_by(col(AttemptRow.seq).desc()).limit(limit))).all()
    return stored_envelope(MaintenanceAttemptList, attempts=list(rows))


async def read_attempt(session: AsyncSession, attempt_id: str) -> MaintenanceAttemptEnvelope:
    """The latest record of the attempt (404 when there is none)."""
    body = (await session.exec(select(AttemptRow.body)
                               .where(AttemptRow.attempt_id == attempt_id, col(AttemptRow.latest)))).first()
    if body is None:
        raise NotFound(f"maintenance attempt {attempt_id!r} not found", code="maintenance_attempt_not_found")
    return stored_envelope(MaintenanceAttemptEnvelope, attempt=body)
