"""Health and metrics: always answer, never need auth."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel
from sqlalchemy import text

from capstan.sandbox import resolve_status

router = APIRouter(tags=["health"])

CHECK_TIMEOUT = 2.0


class ComponentHealth(BaseModel):
    status: Literal["ok", "degraded"]
    detail: str | None = None


class Health(BaseModel):
    status: Literal["ok", "degraded"]
    components: dict[str, ComponentHealth]


async def _check(probe) -> ComponentHealth:
    try:
        await asyncio.wait_for(probe(), CHECK_TIMEOUT)
    except Exception as exc:  # any failure is "degraded", never an error response
        return ComponentHealth(status="degraded", detail=type(exc).__name__)
    return ComponentHealth(status="ok")


@router.get("/health", response_model=Health, summary="Component health (always 200)")
async def health(request: Request) -> Health:
    state = request.app.state

    async def database() -> None:
        async with state.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def temporal() -> None:
        await state.temporal.service_client.check_health(timeout=timedelta(seconds=CHECK_TIMEOUT))

    db, tmp, sandbox = await asyncio.gather(_check(database), _check(temporal), _sandbox(state.settings))
    components = {"database": db, "temporal": tmp, "sandbox": sandbox}
    overall = "ok" if all(c.status == "ok" for c in components.values()) else "degraded"
    return Health(status=overall, components=components)


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
