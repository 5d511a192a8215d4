"""What the ingest recorded, read back: ``GET /api/v1/events/ingest-batches`` and
``GET /api/v1/edge-agent/ingest-status``, always inside the caller's workspace."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import Integer, Text, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.platform_v1.caller import Caller
from api.platform_v1.services.ingest import batch_view
from api.platform_v1.services.ingest_enrollment import workspace_enrolled
from models.common.base import iso_z, utcnow
from models.platform_v1.ingest import MAX_STATUS_SOURCES
from models.platform_v1.ingest_tables import IngestBatchRow

BATCH_SORTS = SortFields(columns={"createdAt": IngestBatchRow.created_at}, default_by="createdAt",
                         default_order=SortOrder.DESC)
STATUS_WINDOW = timedelta(hours=24)


@dataclass(frozen=True)
class BatchQuery:
    limit: int
    offset: int
    sort: Sort
    source: str | None
    q: str | None


def _like(q: str) -> str:
    """``q`` as an ``ILIKE`` pattern matching it anywhere, its own ``%``, ``_`` and ``\\`` taken literally."""
    return "%" + q.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


async def batch_page(db: AsyncSession, caller: Caller, query: BatchQuery) -> ListPage[dict[str, Any]]:
    """One page of the workspace's batches; ``q`` matches any part of a batch's answered fields."""
    conditions: list[Any] = [IngestBatchRow.workspace_id == caller.tenant]
    if query.source is not None:
        conditions.append(IngestBatchRow.source == query.source)
    if query.q:
        answered = func.concat_ws(" ", IngestBatchRow.id, IngestBatchRow.source, IngestBatchRow.created_by,
                                  IngestBatchRow.correlation_id, cast(IngestBatchRow.by_type, Text))
        conditions.append(answered.ilike(_like(query.q)))
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(IngestBatchRow).where(*conditions))).one()
    tiebreak = col(IngestBatchRow.id).desc() if query.sort.order == SortOrder.DESC else col(IngestBatchRow.id).asc()
    ordered = BATCH_SORTS.apply(select(IngestBatchRow).where(*conditions), query.sort, tiebreak=tiebreak)
    rows = (await db.exec(ordered.limit(query.limit).offset(query.offset))).all()
    return list_page([batch_view(row) for row in rows], limit=query.limit, offset=query.offset, total=total,
                     sort=query.sort, filters={"source": query.source, "q": query.q})


async def ingest_status(db: AsyncSession, caller: Caller) -> dict[str, Any]:
    """The workspace's ingest at a glance: enrolled or not, its last batch, the last 24 hours' counts and
    sources (most recent first, at most ``MAX_STATUS_SOURCES``), all from the batches' covering index."""
    workspace_id = caller.tenant
    mine = IngestBatchRow.workspace_id == workspace_id
    last = (await db.exec(select(func.max(IngestBatchRow.created_at)).where(mine))).one()
    recent = [mine, IngestBatchRow.created_at >= utcnow() - STATUS_WINDOW]
    batches, events, duplicates = (await db.exec(select(
        cast(func.count(), Integer), func.coalesce(func.sum(IngestBatchRow.accepted), 0),
        func.coalesce(func.sum(IngestBatchRow.duplicates), 0)).where(*recent))).one()
    latest = func.max(IngestBatchRow.created_at)
    sources = (await db.exec(
        select(IngestBatchRow.source, latest, cast(func.count(), Integer), func.sum(IngestBatchRow.accepted))
        .where(*recent).group_by(IngestBatchRow.source).order_by(latest.desc(), IngestBatchRow.source)
        .limit(MAX_STATUS_SOURCES))).all()
    return {"workspaceId": workspace_id, "enrolled": await workspace_enrolled(db, workspace_id),
            "lastIngestAt": iso_z(last),
            "last24h": {"batches": int(batches), "events": int(events), "duplicates": int(duplicates)},
            "sources": [{"source": source, "lastIngestAt": iso_z(at), "batches": int(count), "events": int(accepted)}
                        for source, at, count, accepted in sources]}
