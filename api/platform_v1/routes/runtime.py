"""The agent runtime: its health and its task queue (``services.runtime``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.pagination import ListPage, list_page
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.routing import platform_route
from api.platform_v1.services.runtime import queue_of, runtime_health
from models.platform_v1.execution_contracts import RuntimeHealth, RuntimeQueue

router = APIRouter(tags=["agents"])


@platform_route(router, "GET", f"{V1}/agent-runtime/health", summary="The agent runtime's health",
                description="Temporal reachable, workers polling `capstan-platform_v1`, the workspace's agents "
                            "(degraded when some exist and none is healthy), its outbox (degraded on a failed event "
                            "or one pending over 60 s) and its jobs (degraded on a failed one). Always 200: "
                            "`status` tells.", response_model=RuntimeHealth)
async def get_runtime_health(caller: CallerDep, db: SessionDep, temporal: TemporalDep,
                             settings: SettingsDep) -> Response:
    return json_answer(await runtime_health(db, temporal, settings, caller))


@platform_route(router, "GET", f"{V1}/agent-runtime/queues", summary="The agent runtime's task queue",
                description="The list envelope of `capstan-platform_v1`: its pollers and backlog.",
                responses={503: {"description": "`temporal_unavailable` (`Retry-After`)"}},
                response_model=ListPage[RuntimeQueue])
async def get_runtime_queues(caller: CallerDep, temporal: TemporalDep, settings: SettingsDep) -> Response:
    queue = await queue_of(temporal, settings)
    return json_answer(list_page([queue], limit=1, offset=0, total=1))
