"""Reading events, newest first, with the names of their run and project."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.pagination import DEFAULT_EVENT_LIMIT
from models.protocols.event import Event, EventPublic
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun


async def list_events(session: AsyncSession, *, project_id: int | None = None, protocol_run_id: int | None = None,
                      limit: int = DEFAULT_EVENT_LIMIT, offset: int = 0,
                      visible: ColumnElement[bool] | None = None) -> list[EventPublic]:
    """``visible``: which projects the caller may see (``ProjectVisibility.visible()``), for lists
    across projects.

    The page's ids are picked first, from the ``(project_id, id)``/``(protocol_run_id, id)``
    indexes alone, and only those 50 rows are read and joined: a deep ``offset`` then skips index
    entries instead of reading and joining every skipped event (``docs/performance.md``, Scale).
    """
    page = select(Event.id).order_by(col(Event.id).desc()).limit(limit).offset(offset)
    if project_id is not None:
        page = page.where(Event.project_id == project_id)
    if protocol_run_id is not None:
        page = page.where(Event.protocol_run_id == protocol_run_id)
    if visible is not None:
        page = page.join(Project, col(Project.id) == col(Event.project_id)).where(visible)
    page_ids = page.subquery()
    query = (
        select(Event, ProtocolRun.protocol_name, Project.name)
        .join(page_ids, page_ids.c.id == col(Event.id))
        .join(Project, col(Project.id) == col(Event.project_id))
        .outerjoin(ProtocolRun, col(ProtocolRun.id) == col(Event.protocol_run_id))
        .order_by(col(Event.id).desc())
    )
    rows = (await session.exec(query)).all()
    return [
        EventPublic(id=e.id, protocol_run_id=e.protocol_run_id, step_run_id=e.step_run_id, event_type=e.event_type,
                    message=e.message, created_at=e.created_at, metadata=e.event_metadata,
                    protocol_name=protocol_name, project_id=e.project_id, project_name=project_name)
        for e, protocol_name, project_name in rows
    ]
