"""The agent registry of a workspace: register or replace, heartbeat, list (``services.agents``)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response

from api.common.deps import SessionDep, SettingsDep
from api.common.pagination import Limit, ListPage, Offset, Sort
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.agents import AGENT_SORTS, agent_page, agent_view, heartbeat, put_agent
from models.platform_v1.execution_contracts import AgentBody, AgentPublic, HeartbeatBody
from models.platform_v1.executions import AGENT_NAME

router = APIRouter(tags=["agents"])

AgentId = Annotated[str, Path(pattern=AGENT_NAME.pattern, description="`^[a-z0-9][a-z0-9_-]{0,62}$`")]
ONE = f"{V1}/agent-runtime/agents/{{agent_id}}"


@platform_route(router, "PUT", ONE, summary="Register or replace an agent (a heartbeat too)",
                status_code=200, responses={201: {"model": AgentPublic, "description": "Registered"}},
                response_model=AgentPublic)
async def put_agent_route(agent_id: AgentId, body: AgentBody, caller: CallerDep, key: KeyDep, db: SessionDep,
                          settings: SettingsDep) -> Response:
    row, created = await put_agent(db, caller, agent_id, body)
    answer = json_answer(agent_view(row, settings), status_code=201 if created else 200)
    return await key.commit(db, answer)


@platform_route(router, "POST", f"{ONE}/heartbeat", summary="An agent's heartbeat",
                responses={404: {"description": "`agent_not_found`"}}, response_model=AgentPublic)
async def agent_heartbeat(agent_id: AgentId, caller: CallerDep, key: KeyDep, db: SessionDep, settings: SettingsDep,
                          body: HeartbeatBody | None = None) -> Response:
    row = await heartbeat(db, caller, agent_id, body.version if body is not None else None)
    return await key.commit(db, json_answer(agent_view(row, settings)))


@platform_route(router, "GET", f"{V1}/agent-runtime/agents", summary="List the workspace's agents",
                description="By `id` unless `sortBy` (`id`, `lastHeartbeatAt`, `registeredAt`) says otherwise.",
                response_model=ListPage[AgentPublic])
async def list_agents(caller: CallerDep, db: SessionDep, settings: SettingsDep, limit: Limit = 50, offset: Offset = 0,
                      sort: Sort = Depends(AGENT_SORTS.dependency()),
                      status: Annotated[Literal["healthy", "stale"] | None, Query(description="Only this status.")]
                      = None,
                      q: Annotated[str | None, Query(max_length=200, description="Text to find.")] = None) -> Response:
    return json_answer(await agent_page(db, caller, settings, limit=limit, offset=offset, sort=sort, status=status,
                                        q=q.strip() if q and q.strip() else None))
