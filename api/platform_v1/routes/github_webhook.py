"""``POST /integrations/github/webhook?workspaceId=ws_…``: GitHub's webhook of a workspace. Signed, no token, no
``Idempotency-Key``: the gate (``webhook_signature.GITHUB_GATE``) checks the switch, the secret and the
signature over the raw body first; ``services.github_webhook`` does the rest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Request, Response

from api.common.deps import SessionDep
from api.common.openapi import authenticated_by
from api.platform_v1.access import V1
from api.platform_v1.answers import json_answer
from api.platform_v1.routing import platform_route
from api.platform_v1.services.github_webhook import take_github_delivery
from api.platform_v1.webhook_signature import GITHUB_SIGNATURE
from capstan.logs import request_id_var
from models.platform_v1.github_contracts import GitHubWebhookAnswer

router = APIRouter(tags=["integrations"])

_HEADERS = [
    {"name": "x-github-delivery", "in": "header", "required": True,
     "schema": {"type": "string", "minLength": 1, "maxLength": 255},
     "description": "GitHub's GUID of the delivery, the same when it is redelivered."},
    {"name": "x-github-event", "in": "header", "required": True,
     "schema": {"type": "string", "pattern": "^[a-z][a-z0-9_]{0,63}$"},
     "description": "GitHub's event name: `ping`, `workflow_run` (read), any other (ignored)."},
]


@platform_route(router, "POST", f"{V1}/integrations/github/webhook", summary="GitHub reports to a workspace",
                description="Checks, in order: `CAPSTAN_GITHUB_WEBHOOK_ENABLED` false → 404 `not_found`; no "
                            "`CAPSTAN_GITHUB_WEBHOOK_SECRET` → 503 `webhook_not_configured`; `x-hub-signature-256` "
                            "(`sha256=` + hex HMAC-SHA256 of the raw body) → 401 `invalid_signature`; "
                            "`x-github-delivery` → 400 `delivery_required`; `x-github-event` → 400 "
                            "`event_required`; `workspaceId` → 400 `workspace_required`, 404 "
                            "`workspace_not_found`; a delivery id seen before → 200 `duplicate`. Then `ping` → 200 "
                            "`pong`; a `workflow_run` completed with conclusion `failure`, `timed_out` or "
                            "`startup_failure` writes `pipeline.failed` in the workspace → 202 `accepted` with its "
                            "`eventId` (a malformed `workflow_run` payload → 400, nothing written); anything else "
                            "→ 200 `ignored` with its `reason`.",
                status_code=202,
                responses={200: {"description": "`pong`, `duplicate` or `ignored`", "model": GitHubWebhookAnswer},
                           400: {"description": "`delivery_required`, `event_required`, `workspace_required`, or "
                                                "a malformed `workflow_run` payload"},
                           401: {"description": "`invalid_signature`"},
                           404: {"description": "`not_found`: the webhook is switched off; `workspace_not_found`"},
                           503: {"description": "`webhook_not_configured`: enabled without a secret"}},
                response_model=GitHubWebhookAnswer, response_model_exclude_none=True,
                openapi_extra={"parameters": _HEADERS, "requestBody": {"required": True, "content": {
                    "application/json": {"schema": {"type": "object", "description": "GitHub's payload of "
                                                    "the event; unknown fields are ignored."}}}}})
@authenticated_by(GITHUB_SIGNATURE)
async def github_webhook(request: Request, db: SessionDep,
                         workspaceId: Annotated[str | None, Query(  # noqa: N803 - the contract's name
                             description="The workspace the delivery's events land in (`ws_…`).")] = None,
                         x_github_delivery: Annotated[str | None, Header(include_in_schema=False)] = None,
                         x_github_event: Annotated[str | None, Header(include_in_schema=False)] = None) -> Response:
    answer = await take_github_delivery(db, delivery_header=x_github_delivery, event_header=x_github_event,
                                        workspace_id=workspaceId, raw=await request.body(),
                                        correlation_id=request_id_var.get())
    return json_answer(answer.model_dump(exclude_none=True), status_code=202 if answer.status == "accepted" else 200)
