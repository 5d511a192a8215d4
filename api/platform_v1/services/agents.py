"""The agent registry, per workspace: register or replace an agent (either is a heartbeat), heartbeats, the
list, and what an execution calls (``agent_target``). An agent's status is computed on read: ``healthy``
while its last heartbeat is younger than ``CAPSTAN_AGENT_STALE_SECONDS``, else ``stale``."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import ApiError, NotFound
from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.platform_v1.caller import Caller
from api.platform_v1.services.text_search import any_contains
from capstan.settings import Settings
from models.common.base import utcnow
from models.platform_v1.engine_tables import AgentRow
from models.platform_v1.execution_contracts import AgentBody, AgentPublic, ReasonerPublic
from models.platform_v1.workflow_io import AgentTarget

AGENT_SORTS = SortFields(columns={"id": AgentRow.id, "lastHeartbeatAt": AgentRow.last_heartbeat_at,
                                  "registeredAt": AgentRow.registered_at}, default_by="id")
#: What a client waits before asking again for a stale agent.
STALE_RETRY_AFTER = "5"


class AgentUnavailable(ApiError):
    status_code, code = 503, "agent_unavailable"


def agent_not_found(agent_id: str) -> NotFound:
    return NotFound(f"no agent {agent_id} in this workspace", code="agent_not_found")


def _stale_before(settings: Settings) -> datetime:
    return utcnow() - timedelta(seconds=settings.platform.agent_stale_seconds)


def is_stale(row: AgentRow, settings: Settings) -> bool:
    return row.last_heartbeat_at < _stale_before(settings)


def agent_view(row: AgentRow, settings: Settings) -> AgentPublic:
    return AgentPublic.model_construct(
        id=row.id, workspaceId=row.workspace_id, baseUrl=row.base_url, version=row.version,
        reasoners=[ReasonerPublic.model_construct(**reasoner) for reasoner in row.reasoners], metadata=row.meta,
        status="stale" if is_stale(row, settings) else "healthy", lastHeartbeatAt=row.last_heartbeat_at,
        registeredAt=row.registered_at, registeredBy=row.registered_by, updatedAt=row.updated_at)


async def put_agent(db: AsyncSession, caller: Caller, agent_id: str, body: AgentBody) -> tuple[AgentRow, bool]:
    """Register (``True``: created) or replace the agent; either counts as a heartbeat. Flushed, not committed."""
    now = utcnow()
    reasoners = [reasoner.model_dump() for reasoner in body.reasoners]
    fields = {"base_url": body.baseUrl, "version": body.version, "reasoners": reasoners, "meta": body.metadata,
              "last_heartbeat_at": now, "updated_at": now}
    created = (await db.exec(insert(AgentRow).values(
        workspace_id=caller.tenant, id=agent_id, registered_at=now, registered_by=caller.actor,
        **{("metadata" if name == "meta" else name): value for name, value in fields.items()},
    ).on_conflict_do_nothing().returning(col(AgentRow.id)))).first()
    row = await db.get(AgentRow, (caller.tenant, agent_id), with_for_update=True, populate_existing=True)
    assert row is not None, "inserted above or before"
    if created is None:
        for name, value in fields.items():
            setattr(row, name, value)
        db.add(row)
        await db.flush()
    return row, created is not None


async def heartbeat(db: AsyncSession, caller: Caller, agent_id: str, version: str | None) -> AgentRow:
    row = await db.get(AgentRow, (caller.tenant, agent_id), with_for_update=True)
    if row is None:
        raise agent_not_found(agent_id)
    row.last_heartbeat_at = row.updated_at = utcnow()
    if version is not None:
        row.version = version
    db.add(row)
    await db.flush()
    return row


async def agent_page(db: AsyncSession, caller: Caller, settings: Settings, *, limit: int, offset: int, sort: Sort,
                     status: str | None, q: str | None) -> ListPage[AgentPublic]:
    listed = select(AgentRow).where(AgentRow.workspace_id == caller.tenant)
    if status == "healthy":
        listed = listed.where(AgentRow.last_heartbeat_at >= _stale_before(settings))
    elif status == "stale":
        listed = listed.where(AgentRow.last_heartbeat_at < _stale_before(settings))
    if q:
        listed = listed.where(any_contains((AgentRow.id, AgentRow.base_url, AgentRow.version, AgentRow.reasoners,
                                            AgentRow.meta), q))
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    tiebreak = col(AgentRow.id).desc() if sort.order == SortOrder.DESC else col(AgentRow.id).asc()
    rows = (await db.exec(AGENT_SORTS.apply(listed, sort, tiebreak=tiebreak).limit(limit).offset(offset))).all()
    return list_page([agent_view(row, settings) for row in rows], limit=limit, offset=offset, total=total, sort=sort,
                     filters={"status": status, "q": q})


def _reasoner(row: AgentRow, reasoner: str) -> dict[str, Any]:
    for entry in row.reasoners:
        if entry["id"] == reasoner:
            return entry
    raise NotFound(f"agent {row.id} has no reasoner {reasoner}", code="reasoner_not_found")


async def agent_target(db: AsyncSession, workspace_id: str, agent_id: str, reasoner: str,
                       settings: Settings, *, refuse_stale: bool = False) -> AgentTarget:
    """What an execution calls: 404 ``agent_not_found`` or ``reasoner_not_found``; with ``refuse_stale``, 503
    ``agent_unavailable`` (``Retry-After: 5``) for a stale agent."""
    row = await db.get(AgentRow, (workspace_id, agent_id))
    if row is None:
        raise agent_not_found(agent_id)
    entry = _reasoner(row, reasoner)
    if refuse_stale and is_stale(row, settings):
        raise AgentUnavailable(f"agent {agent_id} has not sent a heartbeat for over "
                               f"{settings.platform.agent_stale_seconds:g}s",
                               headers={"Retry-After": STALE_RETRY_AFTER})
    return AgentTarget(agent_id=row.id, reasoner=reasoner, base_url=row.base_url, version=row.version,
                       timeout_seconds=entry["timeoutSeconds"],
                       callback_timeout_seconds=entry["callbackTimeoutSeconds"])
