"""Health and discovery of the platform API v1: its health with the workers that poll, the workflow
engine's status, and the OpenAPI document of ``/api/v1``. No auth; no secret in any answer, and no
worker's host or process id (those are in ``GET /queues``, behind the bearer token)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest

from api.ops.routes.health import Health, check_component, database_probe, health_of, temporal_probe, workers_polling
from api.ops.services.queues import capstan_task_queues, describe_queue, temporal_errors
from models.ops.queues import QueueSummary

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
    taskQueues: list[QueueSummary]


@router.get("/.well-known/engine-status", response_model=EngineStatus,
            responses={503: {"description": "Temporal is unreachable"}},
            summary="The workflow engine: Temporal namespace, server version, task queues with how many workers "
                    "poll them and their backlog")
async def engine_status(request: Request) -> EngineStatus:
    state = request.app.state
    client, settings = state.temporal, state.settings
    async with temporal_errors(client, settings):
        info = await client.workflow_service.get_system_info(GetSystemInfoRequest(), timeout=timedelta(seconds=5))
        queues = await asyncio.gather(*(describe_queue(client, name) for name in capstan_task_queues(settings)))
    return EngineStatus(engine="temporal", namespace=client.namespace, serverVersion=info.server_version or None,
                        taskQueues=[QueueSummary.of(queue) for queue in queues])


def _operations(paths: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for item in paths.values():
        yield from (operation for operation in item.values() if isinstance(operation, dict))


def _refs(node: Any) -> Iterator[str]:
    """The ``$ref`` targets anywhere in ``node``."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def v1_document(document: dict[str, Any]) -> dict[str, Any]:
    """The part of the app's OpenAPI document that is ``/api/v1``: its paths, and the schemas, security
    schemes and tags they use (nothing of the other surfaces)."""
    paths = {path: item for path, item in document["paths"].items()
             if path == V1_PREFIX or path.startswith(f"{V1_PREFIX}/")}
    components = document.get("components", {})
    schemas = components.get("schemas", {})
    prefix = "#/components/schemas/"
    kept: set[str] = set()
    pending = [ref.removeprefix(prefix) for ref in _refs(paths) if ref.startswith(prefix)]
    while pending:
        name = pending.pop()
        if name in kept or name not in schemas:
            continue
        kept.add(name)
        pending.extend(ref.removeprefix(prefix) for ref in _refs(schemas[name]) if ref.startswith(prefix))
    schemes = {name for operation in _operations(paths) for requirement in operation.get("security", [])
               for name in requirement}
    tags = {tag for operation in _operations(paths) for tag in operation.get("tags", [])}
    return {**document, "info": {**document["info"], "title": "Capstan platform API v1"}, "paths": paths,
            "tags": [tag for tag in document.get("tags", []) if tag.get("name") in tags],
            "components": {**components, "schemas": {name: schemas[name] for name in sorted(kept)},
                           "securitySchemes": {name: scheme for name, scheme in
                                               components.get("securitySchemes", {}).items() if name in schemes}}}


@router.get(f"{V1_PREFIX}/openapi", summary="The OpenAPI document of /api/v1")
async def v1_openapi(request: Request) -> dict[str, Any]:
    return v1_document(request.app.openapi())
