"""The agent runtime: its health and its task queue (``services.runtime``)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.pagination import ListPage, list_page
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.runtime import queue_of, runtime_health
from api.platform_v1.services.smoke import run_smoke
from models.platform_v1.execution_contracts import RuntimeHealth, RuntimeQueue, SmokeAnswer, SmokeBody

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


@platform_route(router, "POST", f"{V1}/agent-runtime/smoke", summary="Run the platform's smoke check",
                description="Runs `PlatformSmokeWorkflow` (an execution of type `smoke`) and waits up to 30 s for its "
                            "checks: `worker` (a workflow task and an activity ran), `database` (the activity wrote "
                            "and read Postgres), and with a `target` `agent` (one call, not retried, answered 2xx). "
                            "`status` is `failed` when a check failed or no worker answered within 30 s. An unknown "
                            "target → 404, as for execute.",
                responses={400: {"description": "`invalid_target`, or a bad body"},
                           404: {"description": "`agent_not_found` or `reasoner_not_found`"},
                           503: {"description": "`agent_unavailable` (a stale agent, `Retry-After: 5`), or Temporal "
                                                "unreachable"}},
                response_model=SmokeAnswer)
async def post_smoke(caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep, settings: SettingsDep,
                     body: SmokeBody | None = None) -> Response:
    return json_answer(await run_smoke(db, temporal, settings, caller, key.value, body or SmokeBody()))
