"""Workspaces: the tenants of the platform API. Ids are ``ws_`` + 32 hex; names are free text."""

from __future__ import annotations

import uuid

from sqlalchemy import Integer, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import NotFound
from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.platform_v1.caller import Caller
from models.common.base import utcnow
from models.platform_v1.contracts import WorkspacePublic
from models.platform_v1.tables import WorkspaceRow

WORKSPACE_SORTS = SortFields(columns={"createdAt": WorkspaceRow.created_at, "name": WorkspaceRow.name},
                             default_by="createdAt", default_order=SortOrder.DESC)


def workspace_view(row: WorkspaceRow) -> WorkspacePublic:
    return WorkspacePublic.model_construct(id=row.id, name=row.name, createdAt=row.created_at,
                                           createdBy=row.created_by)


async def create_workspace(db: AsyncSession, caller: Caller, name: str) -> WorkspacePublic:
    """A new workspace, flushed: its caller commits (a route, with its answer under its Idempotency-Key)."""
    row = WorkspaceRow(id=f"ws_{uuid.uuid4().hex}", name=name, created_by=caller.actor,
                       correlation_id=caller.correlation_id, created_at=utcnow())
    db.add(row)
    await db.flush()
    return workspace_view(row)


async def workspace_page(db: AsyncSession, limit: int, offset: int, sort: Sort,
                         q: str | None) -> ListPage[WorkspacePublic]:
    listed = select(WorkspaceRow)
    if q:
        listed = listed.where(col(WorkspaceRow.name).icontains(q, autoescape=True))
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    tiebreak = col(WorkspaceRow.id).desc() if sort.order == SortOrder.DESC else col(WorkspaceRow.id).asc()
    ordered = WORKSPACE_SORTS.apply(listed, sort, tiebreak=tiebreak)
    rows = (await db.exec(ordered.limit(limit).offset(offset))).all()
    return list_page([workspace_view(row) for row in rows], limit=limit, offset=offset, total=total, sort=sort,
                     filters={"q": q})


async def one_workspace(db: AsyncSession, workspace_id: str) -> WorkspacePublic:
    row = await db.get(WorkspaceRow, workspace_id)
    if row is None:
        raise NotFound("workspace not found", code="workspace_not_found")
    return workspace_view(row)
