"""``POST /webhooks/workflow-completed``: agents (or an AgentField control plane) report the outcome of a call
they answered with 202. Signed, no token, no ``Idempotency-Key``: the gate (``webhook_signature``) checks the
secret and the signature over the raw body first; ``services.workflow_callbacks`` does the rest."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request, Response

from api.common.deps import SessionDep, TemporalDep
from api.common.openapi import authenticated_by, json_body
from api.platform_v1.access import V1
from api.platform_v1.answers import json_answer
from api.platform_v1.routing import platform_route
from api.platform_v1.services.workflow_callbacks import take_callback
from api.platform_v1.webhook_signature import AGENTFIELD_SIGNATURE
from models.platform_v1.execution_contracts import WebhookAnswer, WorkflowCompletedPayload

router = APIRouter(tags=["executions"])


@platform_route(router, "POST", f"{V1}/webhooks/workflow-completed", summary="An agent reports a call's outcome",
                description="Checks, in order: no `CAPSTAN_AGENTFIELD_WEBHOOK_SECRET` → 503 "
                            "`webhook_not_configured` (unless `CAPSTAN_AUTH_MODE=disabled`: unsigned accepted); "
                            "`x-agentfield-signature` (`sha256=` + hex HMAC-SHA256 of the raw body) → 401 "
                            "`invalid_signature`; `x-agentfield-delivery` → 400 `delivery_required`; a delivery "
                            "answered before → 200 `duplicate`; the body → 400, an unknown `execution_id` → 404; "
                            "then the outcome: 200 `accepted` (a queued or running execution completes) or "
                            "`ignored` (it has ended).",
                responses={400: {"description": "`delivery_required`, or a bad body"},
                           401: {"description": "`invalid_signature`"},
                           404: {"description": "`not_found`: no such execution"},
                           503: {"description": "`webhook_not_configured`, or Temporal unreachable"}},
                response_model=WebhookAnswer, response_model_exclude_none=True,
                openapi_extra={**json_body(WorkflowCompletedPayload), "parameters": [
                    {"name": "x-agentfield-delivery", "in": "header", "required": True,
                     "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                     "description": "One id per delivery, the same when it is sent again."}]})
@authenticated_by(AGENTFIELD_SIGNATURE)
async def workflow_completed(request: Request, db: SessionDep, temporal: TemporalDep,
                             x_agentfield_delivery: Annotated[str | None, Header(include_in_schema=False)] = None
                             ) -> Response:
    answer = await take_callback(db, temporal, x_agentfield_delivery, await request.body())
    return json_answer(answer.model_dump(exclude_none=True))
