"""Workspaces: the tenants of the platform API. Ids are ``ws_`` + 32 hex; names are free text."""

from __future__ import annotations

import uuid
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Integer, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import NotFound
from api.common.pagination import Sort, SortFields, SortOrder, list_page
from api.platform_v1.access import Caller
from api.platform_v1.idempotency import store_response
from models.common.base import iso_z, utcnow
from models.platform_v1.tables import WorkspaceRow

WORKSPACE_SORTS = SortFields(columns={"createdAt": WorkspaceRow.created_at, "name": WorkspaceRow.name},
                             default_by="createdAt", default_order=SortOrder.DESC)


def workspace_view(row: WorkspaceRow) -> dict[str, Any]:
    return {"id": row.id, "name": row.name, "createdAt": iso_z(row.created_at),
            "createdBy": row.created_by}


async def create_workspace(db: AsyncSession, request: Request, caller: Caller, name: str) -> JSONResponse:
    row = WorkspaceRow(id=f"ws_{uuid.uuid4().hex}", name=name, created_by=caller.actor,
                       correlation_id=caller.correlation_id, created_at=utcnow())
    db.add(row)
    await db.flush()
    response = JSONResponse(workspace_view(row), status_code=201,
                            headers={"Location": f"{request.url.path.rstrip('/')}/{row.id}"})
    await store_response(db, request, response)
    await db.commit()
    return response


async def workspace_page(db: AsyncSession, limit: int, offset: int, sort: Sort, q: str | None) -> dict[str, Any]:
    listed = select(WorkspaceRow)
    if q:
        listed = listed.where(col(WorkspaceRow.name).icontains(q, autoescape=True))
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    tiebreak = col(WorkspaceRow.id).desc() if sort.order == SortOrder.DESC else col(WorkspaceRow.id).asc()
    ordered = WORKSPACE_SORTS.apply(listed, sort, tiebreak=tiebreak)
    rows = (await db.exec(ordered.limit(limit).offset(offset))).all()
    return list_page([workspace_view(row) for row in rows], limit=limit, offset=offset, total=total, sort=sort,
                     filters={"q": q}).model_dump(mode="json")


async def one_workspace(db: AsyncSession, workspace_id: str) -> dict[str, Any]:
    row = await db.get(WorkspaceRow, workspace_id)
    if row is None:
        raise NotFound("workspace not found", code="workspace_not_found")
    return workspace_view(row)
