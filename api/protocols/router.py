"""The protocols surface: projects, protocol runs, their steps and events, and forge webhooks; its
credentials (``security.py``) and the jobs on its task queue (``jobs.py``)."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.gates import SignedWebhook
from api.common.surface import ApiSurface
from api.protocols.jobs import PROTOCOL_JOBS
from api.protocols.routes import codemachine, events, projects, protocols, steps, webhooks
from api.protocols.security import SECURITY_SCHEMES

router = APIRouter()
for module in (projects, protocols, steps, events, codemachine, webhooks):
    router.include_router(module.router)

surface = ApiSurface(
    name="protocols",
    router=router,
    tags=[
        {"name": "projects", "description": "Git repositories Capstan works on; creating one starts its setup run."},
        {"name": "protocols", "description": "Protocol runs, their steps and the actions that move them."},
        {"name": "steps", "description": "Step runs of a protocol and the actions that move them."},
        {"name": "events", "description": "The history of every run, newest first."},
        {"name": "codemachine", "description": "Import a CodeMachine workspace as a protocol run."},
        {"name": "webhooks", "description": "GitHub and GitLab notifications (signed; no bearer token)."},
    ],
    # The webhook routes verify a signature over the body themselves: nothing to check before it is read.
    gates={path: SignedWebhook() for path in ("/webhooks/github", "/webhooks/gitlab")},
    security_schemes=SECURITY_SCHEMES,
    jobs=PROTOCOL_JOBS,
)
