"""The platform API v1 surface: every route under ``/api/v1`` but its health and OpenAPI document
(``api.ops``). The gate checks the bearer JWT (and the correlation id's form) before the body is read."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.openapi import SecurityScheme
from api.common.surface import ApiSurface
from api.platform_v1.auth import PLATFORM_JWT, PlatformJwt
from api.platform_v1.routes import configuration, edge_agent, ingest, notifications, outbox, resources, workspaces

router = APIRouter()
for module in (workspaces, configuration, edge_agent, resources, ingest, outbox, notifications):
    router.include_router(module.router)

surface = ApiSurface(
    name="platform_v1",
    router=router,
    tags=[
        {"name": "workspaces", "description": "The tenants (platform_admin, msp_admin)."},
        {"name": "settings", "description": "Platform and workspace settings and sealed secrets."},
        {"name": "resources", "description": "Clients, tickets, invoices and the other records of a workspace."},
        {"name": "events", "description": "Events sent in (the ingest of telemetry, alerts, asset states and "
                                          "pipeline failures, and its batches) and the transactional outbox "
                                          "(the events changes emitted, and their deliveries)."},
        {"name": "edge-agent", "description": "The edge agent's policy, its enrollment token and what it sent in."},
        {"name": "integrations", "description": "The workspace's adapters (notifications)."},
    ],
    gates={"/api/v1": PlatformJwt()},
    security_schemes=[SecurityScheme(PLATFORM_JWT, {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A JWT with `sub`, `roles` and `workspaces` (platform API v1, `/api/v1`)."},
        enforced=lambda settings: settings.platform.auth_mode == "enabled")],
)
