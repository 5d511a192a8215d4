"""Health and metrics: always answer, never need auth."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from api.ops.services.queues import capstan_task_queues, describe_queue
from capstan.sandbox import resolve_status
from models.ops.queues import QueueStats

router = APIRouter(tags=["health"])

CHECK_TIMEOUT = 2.0


class ComponentHealth(BaseModel):
    status: Literal["ok", "degraded"]
    detail: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    components: dict[str, ComponentHealth]


async def check_component(probe) -> ComponentHealth:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except Exception as exc:  # any failure is "degraded", never an error response
        return ComponentHealth(status="degraded", detail=type(exc).__name__)
    return ComponentHealth(status="ok")


def database_probe(state: Any) -> Callable[[], Awaitable[None]]:
    async def database() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    return database


def temporal_probe(state: Any) -> Callable[[], Awaitable[None]]:
    async def temporal() -> None:
        await state.temporal.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT))

    return temporal


async def workers_polling(state: Any) -> ComponentHealth:
    """``ok`` when a worker polls every Capstan task queue, for workflow and for activity tasks."""
    try:
        queues = await asyncio.wait_for(asyncio.gather(*(describe_queue(state.temporal, name)
                                                         for name in capstan_task_queues(state.settings))),
                                        CHECK_TIMEOUT)
    except Exception as exc:  # any failure is "degraded", never an error response
        return ComponentHealth(status="degraded", detail=f"task queues unreadable ({type(exc).__name__})")
    idle = [_idle_part(queue) for queue in queues if not (queue.workflow_pollers and queue.activity_pollers)]
    if idle:
        return ComponentHealth(status="degraded", detail="no worker polls " + ", ".join(idle))
    pollers = sum(len(queue.pollers) for queue in queues)
    return ComponentHealth(status="ok", detail=f"{pollers} pollers on {len(queues)} queues")


def _idle_part(queue: QueueStats) -> str:
    """A queue no worker polls, or the half of it (workflow or activity tasks) none polls."""
    if queue.workflow_pollers or queue.activity_pollers:
        return f"{queue.name} ({'activity' if queue.workflow_pollers else 'workflow'} tasks)"
    return queue.name


def health_of(components: dict[str, ComponentHealth]) -> Health:
    overall = "ok" if all(c.status == "ok" for c in components.values()) else "degraded"
    return Health(status=overall, components=components)


@router.get("/health", response_model=Health, summary="Component health (always 200)")
async def health(request: Request) -> Health:
    state = request.app.state
    db, tmp, workers, sandbox = await asyncio.gather(check_component(database_probe(state)),
                                                     check_component(temporal_probe(state)), workers_polling(state),
                                                     _sandbox(state.settings))
    return health_of({"database": db, "temporal": tmp, "workers": workers, "sandbox": sandbox})


async def _sandbox(settings) -> ComponentHealth:
    """The sandbox repository code gets on this host with these settings (probed once per process;
    each worker also logs its own at start)."""
    status = await asyncio.to_thread(resolve_status, settings.sandbox)
    return ComponentHealth(status="ok" if status.usable else "degraded", detail=status.detail)


@router.get("/healthz", response_class=PlainTextResponse, summary="Liveness: text ok")
async def healthz() -> str:
    return "ok"


@router.get("/metrics", response_class=PlainTextResponse, summary="Prometheus metrics of this API process",
            responses={200: {"description": "The Prometheus text exposition format"}})
async def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
