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
from api.common.openapi import SecurityScheme
from api.common.surface import ApiSurface
from api.tasks.routes import auth, config, github_data, intake, ops, tasks
from api.tasks.routes.intake import TASKS_CALLBACK_TOKEN
from api.tasks.session import TASKS_SESSION, TasksSession
from api.tasks.webhook_signature import TASKS_GITHUB_SIGNATURE, GitHubWebhookSignature

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
    security_schemes=[
        SecurityScheme(TASKS_SESSION, {
            "type": "apiKey", "in": "cookie", "name": "capstan_session",
            "description": "The signed session of a GitHub sign-in (`GET /api/auth/github`; coding-tasks routes that "
                           "act for a user)."}),
        SecurityScheme(TASKS_GITHUB_SIGNATURE, {
            "type": "apiKey", "in": "header", "name": "X-Hub-Signature-256",
            "description": "`sha256=` + HMAC-SHA256(CAPSTAN_TASKS_WEBHOOK_SECRET, body) "
                           "(`POST /api/webhooks/github`)."},
            enforced=lambda settings: bool(settings.tasks.webhook_secret)),
        SecurityScheme(TASKS_CALLBACK_TOKEN, {
            "type": "apiKey", "in": "header", "name": "X-Capstan-Callback-Token",
            "description": "hex HMAC-SHA256(callback secret, execution id), handed to the runner as CALLBACK_TOKEN "
                           "(`POST /api/callbacks/complete`)."}),
    ],
)
