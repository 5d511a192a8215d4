"""The platform API v1 surface: every route under ``/api/v1`` but its health and OpenAPI document
(``api.ops``). The gate checks the bearer JWT (and the correlation id's form) before the body is read."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.openapi import SecurityScheme
from api.common.surface import ApiSurface
from api.platform_v1.auth import PLATFORM_JWT, PlatformJwt
from api.platform_v1.routes import (
    agents,
    artifacts,
    configuration,
    edge_agent,
    executions,
    github_webhook,
    ingest,
    jobs,
    notifications,
    outbox,
    resources,
    runtime,
    webhooks,
    workspaces,
)
from api.platform_v1.webhook_signature import AGENTFIELD_GATE, AGENTFIELD_SIGNATURE, GITHUB_GATE, GITHUB_SIGNATURE

router = APIRouter()
for module in (workspaces, configuration, edge_agent, resources, ingest, outbox, notifications, executions, agents,
               runtime, artifacts, webhooks, github_webhook, jobs):
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
        {"name": "executions", "description": "Workflow executions, execute, their artifacts and the signed "
                                              "workflow-completed webhook."},
        {"name": "agents", "description": "The workspace's agent registry and heartbeats."},
        {"name": "integrations", "description": "Outside systems and the workspace's adapters: GitHub's signed "
                                                "webhook, the accounting sync, the notification test."},
        {"name": "jobs", "description": "Imports, exports and accounting syncs: each the view of its execution."},
    ],
    gates={"/api/v1": PlatformJwt(), "/api/v1/webhooks/workflow-completed": AGENTFIELD_GATE,
           "/api/v1/integrations/github/webhook": GITHUB_GATE},
    security_schemes=[SecurityScheme(PLATFORM_JWT, {
        "type": "http", "scheme": "bearer", "bearerFormat": "JWT",
        "description": "A JWT with `sub`, `roles` and `workspaces` (platform API v1, `/api/v1`)."},
        enforced=lambda settings: settings.platform.auth_mode == "enabled"),
        SecurityScheme(AGENTFIELD_SIGNATURE, {
            "type": "apiKey", "in": "header", "name": "x-agentfield-signature",
            "description": "`sha256=` + hex HMAC-SHA256(CAPSTAN_AGENTFIELD_WEBHOOK_SECRET, raw body) "
                           "(`POST /api/v1/webhooks/workflow-completed`)."},
            # Without the secret the webhook refuses every delivery (503), unless authentication is disabled.
            enforced=lambda settings: bool(settings.platform.agentfield_webhook_secret)
            or settings.platform.auth_mode == "enabled"),
        SecurityScheme(GITHUB_SIGNATURE, {
            "type": "apiKey", "in": "header", "name": "x-hub-signature-256",
            "description": "`sha256=` + hex HMAC-SHA256(CAPSTAN_GITHUB_WEBHOOK_SECRET, raw body) "
                           "(`POST /api/v1/integrations/github/webhook`)."},
            # Never accepted unsigned: switched off it is 404, enabled without a secret 503.
            enforced=lambda settings: True)],
)
