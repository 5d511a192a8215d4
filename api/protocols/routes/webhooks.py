"""GitHub and GitLab webhooks. Signed with the webhook secret; no bearer token."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import BadRequest
from api.common.openapi import authenticated_by
from api.protocols.security import GITHUB_SIGNATURE, GITLAB_SIGNATURE, GITLAB_TOKEN, LEGACY_WEBHOOK_TOKEN
from api.protocols.webhooks.gitlab import gitlab_event_name
from api.protocols.webhooks.mapping import GITHUB, GITLAB
from api.protocols.webhooks.receive import Delivery, WebhookAnswer, receive
from api.protocols.webhooks.verify import parse_payload, verify_github, verify_gitlab

router = APIRouter(tags=["webhooks"])

RunIdQuery = Annotated[int | None, Query(description="Map the delivery to this protocol run instead of by branch.")]
DeliveryId = Annotated[str | None, Header(max_length=200)]
EventName = Annotated[str | None, Header(max_length=100)]

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Body is not a JSON object, or the event header is missing"},
    401: {"description": "Webhook secret set and the signature or token is missing or wrong; nothing recorded"},
    404: {"description": "No protocol run for `protocol_run_id` or the payload's branch"},
    409: {"description": "`workflow_closed`: the run's workflow finished by itself, before runs kept their "
                         "workflow open, and is not started again; the delivery is recorded"},
    503: {"description": "Temporal unreachable; the delivery is recorded, send it again"},
}

#: The routes read the raw body (its signature covers the bytes), so FastAPI cannot see it: say what it is.
_PAYLOAD = {"requestBody": {"required": True, "description": "The forge's event payload, a JSON object", "content": {
    "application/json": {"schema": {"type": "object"}},
    "application/x-www-form-urlencoded": {"schema": {
        "type": "object", "required": ["payload"],
        "properties": {"payload": {"type": "string", "description": "The payload as JSON (GitHub's form option)"}},
    }},
}}}


@router.post("/webhooks/github", response_model=WebhookAnswer, summary="Receive a GitHub webhook",
             description="`X-GitHub-Event` names the event; with a webhook secret, `X-Hub-Signature-256` must be "
                         "`sha256=` + HMAC-SHA256(secret, body). `X-GitHub-Delivery` deduplicates.",
             responses=_ERRORS, openapi_extra=_PAYLOAD)
@authenticated_by(GITHUB_SIGNATURE)
async def github_webhook(request: Request, session: SessionDep, temporal: TemporalDep, settings: SettingsDep,
                         protocol_run_id: RunIdQuery = None,
                         x_github_event: EventName = None,
                         x_github_delivery: DeliveryId = None,
                         x_hub_signature_256: Annotated[str | None, Header()] = None) -> WebhookAnswer:
    body = await request.body()
    verify_github(settings.webhooks, body, x_hub_signature_256)
    payload = parse_payload(body, request.headers.get("content-type"))
    if not x_github_event:
        raise BadRequest("X-GitHub-Event header is required", code="missing_event")
    delivery = Delivery(GITHUB, x_github_event, x_github_delivery or None, payload)
    return await receive(session, temporal, settings, delivery, protocol_run_id)


@router.post("/webhooks/gitlab", response_model=WebhookAnswer, summary="Receive a GitLab webhook",
             description="`X-Gitlab-Event` names the event (else the body's `object_kind`); with a webhook secret, "
                         "`X-Gitlab-Token` or `X-Deksdenflow-Webhook-Token` must equal it, or "
                         "`X-Gitlab-Signature-256` must be its HMAC-SHA256 of the body. "
                         "`X-Gitlab-Event-UUID` deduplicates.",
             responses=_ERRORS, openapi_extra=_PAYLOAD)
@authenticated_by(GITLAB_TOKEN, GITLAB_SIGNATURE, LEGACY_WEBHOOK_TOKEN)
async def gitlab_webhook(request: Request, session: SessionDep, temporal: TemporalDep, settings: SettingsDep,
                         protocol_run_id: RunIdQuery = None,
                         x_gitlab_event: EventName = None,
                         x_gitlab_event_uuid: DeliveryId = None,
                         x_gitlab_token: Annotated[str | None, Header()] = None,
                         x_deksdenflow_webhook_token: Annotated[str | None, Header()] = None,
                         x_gitlab_signature_256: Annotated[str | None, Header()] = None) -> WebhookAnswer:
    body = await request.body()
    verify_gitlab(settings.webhooks, body, [x_gitlab_token, x_deksdenflow_webhook_token],
                          x_gitlab_signature_256)
    payload = parse_payload(body, request.headers.get("content-type"))
    event_name = gitlab_event_name(x_gitlab_event, payload)[:100]
    delivery = Delivery(GITLAB, event_name, x_gitlab_event_uuid or None, payload)
    return await receive(session, temporal, settings, delivery, protocol_run_id)
