"""Reading the maintenance records for the lists: newest first, filters before the limit.

Records are stored in their wire shape; each list is validated into its ``…Public`` models in one call
(the response is then serialised from those instances, once)."""

from __future__ import annotations

from pydantic import TypeAdapter
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import NotFound
from models.maintenance.public import DispatchRecordPublic, FlowEventPublic, MaintenanceAttemptPublic
from models.maintenance.tables import AttemptRow, DispatchRow, FlowEventRow

_FLOW_EVENTS = TypeAdapter(list[FlowEventPublic])
_DISPATCHES = TypeAdapter(list[DispatchRecordPublic])
_ATTEMPTS = TypeAdapter(list[MaintenanceAttemptPublic])


async def list_flow_events(session: AsyncSession, *, type: str | None, limit: int  # noqa: A002
                           ) -> list[FlowEventPublic]:
    query = select(FlowEventRow.body)
    if type:
        query = query.where(FlowEventRow.type == type)
    return _FLOW_EVENTS.validate_python((await session.exec(query.order_by(col(FlowEventRow.seq).desc())
                                                            .limit(limit))).all())


async def flow_event_or_404(session: AsyncSession, event_id: str) -> FlowEventPublic:
    body = (await session.exec(select(FlowEventRow.body).where(FlowEventRow.id == event_id))).first()
    if body is None:
        raise NotFound(f"flow event {event_id!r} not found", code="flow_event_not_found")
    return FlowEventPublic.model_validate(body)


async def list_dispatches(session: AsyncSession, *, event_id: str | None, status: str | None,
                          limit: int) -> list[DispatchRecordPublic]:
    query = select(DispatchRow.body)
    if event_id is not None:
        query = query.where(DispatchRow.event_id == event_id)
    if status:
        query = query.where(DispatchRow.status == status)
    return _DISPATCHES.validate_python((await session.exec(query.order_by(col(DispatchRow.seq).desc())
                                                           .limit(limit))).all())


async def list_attempts(session: AsyncSession, *, event_id: str | None, status: str | None,
                        limit: int) -> list[MaintenanceAttemptPublic]:
    """The latest record of each attempt, filtered on that record, most recently written first."""
    query = select(AttemptRow.body).where(col(AttemptRow.latest))
    if event_id is not None:
        query = query.where(AttemptRow.event_id == event_id)
    if status:
        query = query.where(AttemptRow.status == status)
    return _ATTEMPTS.validate_python((await session.exec(query.order_by(col(AttemptRow.seq).desc())
                                                         .limit(limit))).all())


async def attempt_or_404(session: AsyncSession, attempt_id: str) -> MaintenanceAttemptPublic:
    body = (await session.exec(select(AttemptRow.body)
                               .where(AttemptRow.attempt_id == attempt_id, col(AttemptRow.latest)))).first()
    if body is None:
        raise NotFound(f"maintenance attempt {attempt_id!r} not found", code="maintenance_attempt_not_found")
    return MaintenanceAttemptPublic.model_validate(body)

