"""``POST /integrations/github/webhook?workspaceId=ws_…``: GitHub's deliveries to a workspace.

The gate (``api.platform_v1.webhook_signature.GITHUB_GATE``) has answered a switched-off webhook (404), a
missing secret (503) and the signature over the raw body (401). Then, in this order: ``x-github-delivery``
(400 ``delivery_required``), ``x-github-event`` (400 ``event_required``), the ``workspaceId`` of the URL (400
``workspace_required``, 404 ``workspace_not_found``), a delivery id seen before (200 ``duplicate``), and the
event: ``ping`` is ``pong``; a completed ``workflow_run`` that failed writes ``pipeline.failed`` (202
``accepted``); anything else is ``ignored``. A ``workflow_run`` payload is validated before anything is
written (400, the delivery is not recorded as seen, so GitHub's redelivery is read again).

Every answered delivery is a row of ``platform_webhook_deliveries`` (source ``github``), written in the
transaction of the event it causes: the unique row decides a duplicate, so of two concurrent copies of one
delivery one event is written. Delivery ids are GitHub's GUIDs, unique across hooks, so they are not scoped by
workspace.
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import BadRequest, NotFound
from api.platform_v1.services.workflow_callbacks import delivery_id_of
from capstan.strict_json import JsonRejected, read_json
from integrations.stores import webhook_deliveries as deliveries
from integrations.stores.platform_events import append_event
from models.platform_v1.events import EventTopic, SubjectType
from models.platform_v1.github_contracts import (
    EVENT_PATTERN,
    FAILED_CONCLUSIONS,
    GitHubWebhookAnswer,
    WorkflowRunPayload,
)
from models.platform_v1.tables import WorkspaceRow

SOURCE = "github"
DELIVERY_HEADER = "x-github-delivery"
EVENT_HEADER = "x-github-event"
WORKSPACE_ID = re.compile(r"^ws_[0-9a-f]{32}$")


def event_of(header: str | None) -> str:
    value = header.strip() if header is not None else ""
    if not re.match(EVENT_PATTERN, value):
        raise BadRequest(f"{EVENT_HEADER} is required: GitHub's event name (ping, workflow_run, …)",
                         code="event_required")
    return value


async def workspace_of(db: AsyncSession, workspace_id: str | None) -> str:
    """The workspace of the URL's ``workspaceId``: 400 without one, 404 for a malformed or unknown one."""
    if not workspace_id:
        raise BadRequest("the webhook's URL needs ?workspaceId=ws_… (the workspace its events land in)",
                         code="workspace_required")
    if not WORKSPACE_ID.match(workspace_id) or await db.get(WorkspaceRow, workspace_id) is None:
        raise NotFound("workspace not found", code="workspace_not_found")
    return workspace_id


def workflow_run_of(raw: bytes) -> WorkflowRunPayload:
    try:
        value = read_json(raw) if raw else None
    except JsonRejected as error:
        raise BadRequest(f"malformed JSON: {error} (the hook's content type must be application/json)",
                         code="invalid_json") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", code="validation_error")
    try:
        return WorkflowRunPayload.model_validate(value)
    except ValidationError as error:
        fields = [{"field": ".".join(["body", *map(str, problem["loc"])]), "message": problem["msg"],
                   "type": problem["type"]} for problem in error.errors()]
        raise BadRequest("the body is not a GitHub workflow_run payload", code="validation_error",
                         extra={"fields": fields}) from None


def pipeline_failed(payload: WorkflowRunPayload) -> tuple[str, dict[str, Any]]:
    """The ``pipeline.failed`` event's subject id and data."""
    run, repository = payload.workflow_run, payload.repository.full_name
    name = run.name or (payload.workflow.name if payload.workflow else None) or None
    return f"github:{repository}:{run.id}", {
        "provider": "github", "repository": repository, "pipeline": name, "runId": run.id, "url": run.html_url,
        "branch": run.head_branch, "sha": run.head_sha, "conclusion": run.conclusion}


def why_ignored(payload: WorkflowRunPayload) -> str | None:
    """Why a ``workflow_run`` delivery makes no event, ``None`` when it is a failed run."""
    if payload.action != "completed":
        return f"a workflow_run {payload.action}, not completed"
    if payload.workflow_run.conclusion not in FAILED_CONCLUSIONS:
        return f"a workflow_run completed with conclusion {payload.workflow_run.conclusion or 'none'}, not a failure"
    return None


async def take_github_delivery(db: AsyncSession, *, delivery_header: str | None, event_header: str | None,
                               workspace_id: str | None, raw: bytes, correlation_id: str) -> GitHubWebhookAnswer:
    delivery_id = delivery_id_of(delivery_header, DELIVERY_HEADER)
    event = event_of(event_header)
    workspace_id = await workspace_of(db, workspace_id)
    duplicate = GitHubWebhookAnswer(status="duplicate", deliveryId=delivery_id)
    if await deliveries.delivery_seen(db, SOURCE, delivery_id):
        await db.rollback()
        return duplicate
    subject_id = None
    if event == "ping":
        answer = GitHubWebhookAnswer(status="pong")
    elif event == "workflow_run":
        payload = workflow_run_of(raw)
        if reason := why_ignored(payload):
            answer = GitHubWebhookAnswer(status="ignored", reason=reason)
        else:
            subject_id, data = pipeline_failed(payload)
            event_id = await append_event(
                db, workspace_id=workspace_id, topic=EventTopic.PIPELINE_FAILED, subject_type=SubjectType.PIPELINE,
                subject_id=subject_id, data=data, correlation_id=correlation_id,
                occurred_at=payload.workflow_run.updated_at)
            answer = GitHubWebhookAnswer(status="accepted", eventId=event_id)
    else:
        answer = GitHubWebhookAnswer(status="ignored", reason=f"the {event} event is not read (only ping and a "
                                                              "failed workflow_run)")
    if not await deliveries.record_delivery(db, source=SOURCE, delivery_id=delivery_id, workspace_id=workspace_id,
                                            subject_id=subject_id, outcome=answer.status):
        await db.rollback()  # a concurrent copy wrote its row first: this one's event goes too
        return duplicate
    await db.commit()
    return answer
