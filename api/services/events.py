"""Reading events, newest first, with the names of their run and project."""

from __future__ import annotations

from sqlalchemy import or_
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.event import Event, EventPublic
from models.project import Project
from models.protocol import ProtocolRun

DEFAULT_LIMIT = 50
MAX_LIMIT = 500


def clamp_limit(limit: int | None, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    """The documented rule for event lists: out-of-range limits are clamped to 1..500."""
    if limit is None:
        return default
    return max(1, min(limit, maximum))


async def list_events(session: AsyncSession, *, project_id: int | None = None, protocol_run_id: int | None = None,
                      limit: int = DEFAULT_LIMIT, offset: int = 0,
                      open_projects_only: bool = False) -> list[EventPublic]:
    """``open_projects_only`` leaves out projects guarded by a project token: a list across
    projects cannot check every project's token."""
    query = (
        select(Event, ProtocolRun.protocol_name, Project.name)
        .join(Project, col(Project.id) == col(Event.project_id))
        .outerjoin(ProtocolRun, col(ProtocolRun.id) == col(Event.protocol_run_id))
        .order_by(col(Event.id).desc()).limit(limit).offset(offset)
    )
    if project_id is not None:
        query = query.where(Event.project_id == project_id)
    if protocol_run_id is not None:
        query = query.where(Event.protocol_run_id == protocol_run_id)
    if open_projects_only:
        query = query.where(or_(col(Project.secrets).is_(None), ~col(Project.secrets).has_key("api_token")))
    rows = (await session.exec(query)).all()
    return [
        EventPublic(id=e.id, protocol_run_id=e.protocol_run_id, step_run_id=e.step_run_id, event_type=e.event_type,
                    message=e.message, created_at=e.created_at, metadata=e.event_metadata,
                    protocol_name=protocol_name, project_id=e.project_id, project_name=project_name)
        for e, protocol_name, project_name in rows
    ]
