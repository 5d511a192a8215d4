"""The maintenance surface: update triggers from feeds, their dispatches to a workspace backend,
maintenance attempts, and the backend's own events and runs. Guarded by the admin token."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.openapi import SecurityScheme
from api.common.surface import ApiSurface
from api.maintenance.auth import PATCH_ADMIN_BEARER, PATCH_ADMIN_HEADER, PatchAdminToken
from api.maintenance.routes import attempts, dispatches, feed_sources, flow_events, workspace

router = APIRouter()
for module in (flow_events, attempts, dispatches, workspace, feed_sources):
    router.include_router(module.router)

PATHS = ("/flow-events", "/maintenance-attempts", "/workspace-dispatches", "/flow-dispatches", "/workspace-events",
         "/workspace-runs", "/feed-sources")

surface = ApiSurface(
    name="maintenance",
    router=router,
    tags=[
        {"name": "flow-events", "description": "Update triggers from feed sources; retry and replay their dispatch."},
        {"name": "maintenance-attempts", "description": "What the workspace backend did with each dispatch."},
        {"name": "dispatches", "description": "Every hand-over of an event to the workspace backend."},
        {"name": "workspace", "description": "The workspace backend's own events and runs."},
        {"name": "feed-sources", "description": "The polled feeds, their cursors and schedules; poll on demand."},
    ],
    gates={path: PatchAdminToken() for path in PATHS},
    security_schemes=[
        SecurityScheme(PATCH_ADMIN_BEARER, {
            "type": "http", "scheme": "bearer",
            "description": "`Authorization: Bearer <CAPSTAN_PATCH_ADMIN_TOKEN>` (maintenance routes). Unset token: "
                           "those routes are open."},
            enforced=lambda settings: bool(settings.patch.admin_token)),
        SecurityScheme(PATCH_ADMIN_HEADER, {
            "type": "apiKey", "in": "header", "name": "X-Patch-Admin-Token",
            "description": "CAPSTAN_PATCH_ADMIN_TOKEN itself (maintenance routes)."},
            enforced=lambda settings: bool(settings.patch.admin_token)),
    ],
)
