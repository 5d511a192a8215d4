"""Appending the maintenance records: dispatch records and attempt records, in one transaction
with whatever caused them. Each chain (one attempt id) is appended under a transaction-scoped
advisory lock, so two syncs of one attempt never both append from the same latest record."""

from __future__ import annotations

from typing import Any

import psycopg
from sqlalchemy import exc as sa_exc
from sqlalchemy import text, update
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.stores.db_errors import refusal_reason
from models.maintenance.tables import AttemptRow, DispatchRow, FlowEventRow


async def lock(session: AsyncSession, key: str) -> None:
    """Hold an advisory lock on ``key`` until the transaction ends."""
    await session.exec(text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))").bindparams(key=key))


async def latest_attempt(session: AsyncSession, attempt_id: str) -> dict[str, Any] | None:
    row = (await session.exec(select(AttemptRow).where(AttemptRow.attempt_id == attempt_id, col(AttemptRow.latest))
                              )).first()
    return row.body if row else None


async def append_attempt(session: AsyncSession, attempt: dict[str, Any]) -> None:
    """Append ``attempt`` as the newest record of its chain (the caller holds its lock)."""
    await session.exec(update(AttemptRow).where(col(AttemptRow.attempt_id) == attempt["id"], col(AttemptRow.latest))
                          .values(latest=False))
    session.add(AttemptRow(attempt_id=attempt["id"], event_id=attempt["eventId"], status=attempt["status"],
                           latest=True, run_ids=list(attempt.get("workspaceRunIds") or []), body=attempt))
    await session.flush()


async def append_dispatch(session: AsyncSession, record: dict[str, Any], dispatch_key: str,
                          attempt: dict[str, Any]) -> None:
    """The dispatch record, its attempt, and the event marked dispatched: all or nothing."""
    session.add(DispatchRow(event_id=record["eventId"], status=record["status"], dispatch_key=dispatch_key,
                            body=record))
    await lock(session, f"attempt:{attempt['id']}")
    await append_attempt(session, attempt)
    await session.exec(update(FlowEventRow).where(col(FlowEventRow.id) == record["eventId"])
                          .values(dispatched=True))


async def dispatch_written(session: AsyncSession, dispatch_key: str) -> tuple[dict, dict] | None:
    """The record and first attempt record a dispatch already wrote, if it did."""
    row = (await session.exec(select(DispatchRow).where(DispatchRow.dispatch_key == dispatch_key))).first()
    if row is None:
        return None
    record = row.body
    attempt_id = f"{record['eventId']}:{record['operation']}:{record['createdAt']}"
    first = (await session.exec(select(AttemptRow).where(AttemptRow.attempt_id == attempt_id)
                                .order_by(col(AttemptRow.seq)))).first()
    return record, (first.body if first else {})


async def flow_event(session: AsyncSession, event_id: str) -> dict[str, Any] | None:
    row = (await session.exec(select(FlowEventRow).where(FlowEventRow.id == event_id))).first()
    return row.body if row else None


def unstorable_reason(error: BaseException) -> str | None:
    """Why Postgres refused a record's data for good (``refusal_reason``), counting also a value too large
    for an index (``program_limit_exceeded``), which no retry changes either; None when another try may
    succeed."""
    reason = refusal_reason(error)
    if reason is not None:
        return reason
    cause = error.orig if isinstance(error, sa_exc.DBAPIError) else error
    if isinstance(cause, psycopg.errors.ProgramLimitExceeded):
        diag = cause.diag
        return (diag.message_primary if diag is not None else None) or type(cause).__name__
    return None
