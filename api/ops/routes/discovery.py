"""Health and discovery of the platform API v1: its health with the workers that poll, the workflow
engine's status, and the OpenAPI document of ``/api/v1``. No auth; no secret in any answer."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.ops.routes.health import Health, check_component, database_probe, health_of, temporal_probe, workers_polling
from api.ops.services.queues import capstan_task_queues, describe_queue, temporal_errors
from models.ops.queues import QueueStats

router = APIRouter(tags=["health"])

V1_PREFIX = "/api/v1"


@router.get(f"{V1_PREFIX}/health", response_model=Health,
            summary="Health of the platform API: database, Temporal, workers polling (always 200)")
async def v1_health(request: Request) -> Health:
    state = request.app.state
    database, engine, workers = await asyncio.gather(check_component(database_probe(state)),
                                                     check_component(temporal_probe(state)), workers_polling(state))
    return health_of({"database": database, "temporal": engine, "workers": workers})


class EngineStatus(BaseModel):
    engine: str
    namespace: str
    serverVersion: str | None
    taskQueues: list[QueueStats]


@router.get("/.well-known/engine-status", response_model=EngineStatus,
            responses={503: {"description": "Temporal is unreachable"}},
            summary="The workflow engine: Temporal namespace, server version, task queues with pollers and backlog")
async def engine_status(request: Request) -> EngineStatus:
    state = request.app.state
    client, settings = state.temporal, state.settings
    with temporal_errors(client, settings):
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=5))
        queues = await asyncio.gather(*(describe_queue(client, name) for name in capstan_task_queues(settings)))
    return EngineStatus(engine="temporal", namespace=client.namespace, serverVersion=info.server_version or None,
                        taskQueues=list(queues))


@router.get(f"{V1_PREFIX}/openapi", summary="The OpenAPI document of /api/v1")
async def v1_openapi(request: Request) -> dict[str, Any]:
    document = request.app.openapi()
    paths = {path: item for path, item in document["paths"].items() if path.startswith(V1_PREFIX)}
    return {**document, "info": {**document["info"], "title": "Capstan platform API v1"}, "paths": paths}
