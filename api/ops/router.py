"""The operator surface: health, metrics and the task queues, across every other surface."""

from __future__ import annotations

from collections.abc import Sequence

from fastapi import APIRouter

from api.common.gates import Public
from api.common.jobs import SurfaceJobs
from api.common.surface import ApiSurface
from api.ops.routes import discovery, health
from api.ops.routes.queues import queues_router


def ops_surface(surface_jobs: Sequence[SurfaceJobs]) -> ApiSurface:
    """The operator surface, reading the jobs on each surface's task queue as ``surface_jobs`` declare them
    (``api/surfaces.py`` collects them from the other surfaces)."""
    router = APIRouter()
    router.include_router(health.router)
    router.include_router(queues_router(surface_jobs))
    router.include_router(discovery.router)
    return ApiSurface(
        name="ops",
        router=router,
        tags=[
            {"name": "health", "description": "Liveness, component health and Prometheus metrics. No auth."},
            {"name": "queues", "description": "Task queues and jobs, as Temporal sees them."},
        ],
        gates={path: Public() for path in ("/health", "/healthz", "/metrics", "/api/v1/health", "/api/v1/openapi",
                                           "/.well-known/engine-status")},
    )
