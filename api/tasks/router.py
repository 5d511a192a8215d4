"""The coding-tasks surface: GitHub issue comments that start agent runs, the runners' callbacks, the
signed-in user's tasks, config and GitHub data, and the operator checks. Every path is under ``/api``.

Credentials by path: the webhook's signature is checked by its gate as soon as the body is read, the
callback checks its per-execution token itself (the token and the execution id may be in the body); sign-in,
the startup check and the rate limit are open; everything else needs the session cookie of a GitHub
sign-in (``api.tasks.session``).
"""

from __future__ import annotations

from fastapi import APIRouter

from api.common.gates import Gate, Public, SignedWebhook
from api.common.surface import ApiSurface
from api.tasks.routes import auth, config, github_data, intake, ops, tasks
from api.tasks.session import TasksSession
from api.tasks.webhook_signature import GitHubWebhookSignature

router = APIRouter()
for module in (intake, tasks, config, auth, github_data, ops):
    router.include_router(module.router)

GATES: dict[str, Gate] = {
    "/api/webhooks/github": GitHubWebhookSignature(),
    "/api/callbacks/complete": SignedWebhook(),
    "/api/auth": Public(),
    "/api/startup/check": Public(),
    "/api/rate-limit": Public(),
    "/api/tasks": TasksSession(),
    "/api/config": TasksSession(),
    "/api/github": TasksSession(),
}

surface = ApiSurface(
    name="tasks",
    router=router,
    tags=[
        {"name": "tasks-intake", "description": "GitHub issue comments that start coding tasks, and the runners' "
                                                "completion callbacks (both signed; no session)."},
        {"name": "tasks", "description": "Coding tasks of the signed-in user: lists, history, create, retry, stop."},
        {"name": "tasks-config", "description": "The user's agents, credentials (never returned) and Fly setup."},
        {"name": "tasks-auth", "description": "GitHub sign-in, the App installation, the session."},
        {"name": "tasks-github", "description": "The signed-in user's GitHub data."},
        {"name": "tasks-ops", "description": "Startup check and GitHub rate limit (no auth)."},
    ],
    gates=GATES,
)
