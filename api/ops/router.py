"""The operator surface: health, metrics and the task queues, across every other surface."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.gates import Public
from api.common.surface import ApiSurface
from api.ops.routes import discovery, health, queues

router = APIRouter()
router.include_router(health.router)
router.include_router(queues.router)
router.include_router(discovery.router)

surface = ApiSurface(
    name="ops",
    router=router,
    tags=[
        {"name": "health", "description": "Liveness, component health and Prometheus metrics. No auth."},
        {"name": "queues", "description": "Task queues and jobs, as Temporal sees them."},
    ],
    gates={path: Public() for path in ("/health", "/healthz", "/metrics", "/api/v1/health", "/api/v1/openapi",
                                       "/.well-known/engine-status")},
)
