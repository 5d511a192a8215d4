"""``POST /webhooks/workflow-completed``: an agent's outcome of a call it answered with 202.

The gate has checked the secret and the signature over the raw body (``api.platform_v1.webhook_signature``).
Then: the delivery id (400 ``delivery_required``), a delivery answered before (200 ``duplicate``, nothing
changes), the body (400; an unknown execution is 404), and the outcome, handed to the execution's workflow as
its ``callback`` Update: the workflow takes the first outcome only (its validator refuses any other), so a
callback delivered twice, or two deliveries of two outcomes, are applied once. An execution that has ended,
or whose workflow has, is ``ignored``. Each delivery answered 200 is a row of ``platform_webhook_deliveries``,
unique by (source, delivery id): of two concurrent deliveries of one id, the second to write it answers
``duplicate``. The ``result`` is stored as an artifact before the Update, so only its id is in the history.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import ValidationError
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common import temporal_calls
from api.common.errors import BadRequest, NotFound
from capstan.strict_json import JsonRejected, read_json
from integrations.stores import platform_executions as store
from integrations.stores import webhook_deliveries as deliveries
from models.common.base import utcnow
from models.platform_v1.execution_contracts import WebhookAnswer, WorkflowCompletedPayload
from models.platform_v1.executions import ACTIVE, ARTIFACT_PREFIX, ENDED, derived_id
from models.platform_v1.workflow_io import (
    ALREADY_ENDED,
    FAILURE_MESSAGE_MAX,
    CallbackAnswer,
    CallbackReport,
    UpdateName,
)

SOURCE = "agentfield"
DELIVERY_HEADER = "x-agentfield-delivery"
DELIVERY_MAX = 255
#: How long the workflow has to take the outcome before the webhook answers (it is taken later if pending).
CALLBACK_TIMEOUT_SECONDS = 10.0


class _Ignored(Exception):  # noqa: N818 - the answer's name
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def delivery_id_of(header: str | None, name: str = DELIVERY_HEADER) -> str:
    """The delivery id of header ``name``'s value: 1–255 printable characters, else 400 ``delivery_required``."""
    value = header.strip() if header is not None else ""
    if not value or len(value) > DELIVERY_MAX or not value.isprintable():
        raise BadRequest(f"{name} is required: 1–{DELIVERY_MAX} printable characters, one per delivery "
                         "(the same when the delivery is sent again)", code="delivery_required")
    return value


def _payload(raw: bytes) -> WorkflowCompletedPayload:
    try:
        value = read_json(raw) if raw else None
    except JsonRejected as error:
        raise BadRequest(f"malformed JSON: {error}", code="invalid_json") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object", code="validation_error")
    try:
        return WorkflowCompletedPayload.model_validate(value)
    except ValidationError as error:
        fields = [{"field": ".".join(["body", *map(str, problem["loc"])]), "message": problem["msg"],
                   "type": problem["type"]} for problem in error.errors()]
        raise BadRequest("the body is not an AgentField webhook payload", code="validation_error",
                         extra={"fields": fields}) from None


async def _answered_before(db: AsyncSession, delivery_id: str) -> bool:
    return await deliveries.delivery_seen(db, SOURCE, delivery_id)


async def _record_delivery(db: AsyncSession, delivery_id: str, workspace_id: str, execution_id: str,
                           outcome: str) -> bool:
    """Whether this delivery is the first answered under its id (the unique row decides), or the copy the
    workflow accepted, answered after a concurrent copy it refused."""
    written = await deliveries.record_delivery(db, source=SOURCE, delivery_id=delivery_id, workspace_id=workspace_id,
                                               subject_id=execution_id, outcome=outcome,
                                               prevails=outcome == "accepted")
    await db.commit()
    return written


def _ignored(error: Any) -> Exception:
    details = error.details[0] if error.details and isinstance(error.details[0], dict) else {}
    status = details.get("status")
    if status in ACTIVE:
        return _Ignored("the execution has taken an outcome already (an earlier delivery); it is being recorded")
    return _Ignored(f"the execution has ended ({status or 'ended'})")


async def take_callback(db: AsyncSession, temporal: Client, delivery_header: str | None, raw: bytes) -> WebhookAnswer:
    delivery_id = delivery_id_of(delivery_header)
    if await _answered_before(db, delivery_id):
        await db.rollback()
        return WebhookAnswer(status="duplicate", deliveryId=delivery_id)
    payload = _payload(raw)
    row = await store.execution_of(db, payload.execution_id)
    if row is None:
        raise NotFound(f"no execution {payload.execution_id}", code="not_found")
    execution_id, workspace_id = row.id, row.workspace_id
    answer = WebhookAnswer(status="accepted", executionId=execution_id)
    try:
        if row.status in ENDED or row.workflow_id is None:
            raise _Ignored(f"the execution has ended ({row.status})")
        completed = payload.event == "execution.completed"
        output_id = None
        if completed:
            output_id = derived_id(ARTIFACT_PREFIX, execution_id, "callback", delivery_id)
            await store.put_artifact(db, artifact_id=output_id, workspace_id=workspace_id, kind="payload",
                                     content=json.dumps(payload.result, separators=(",", ":")).encode(),
                                     execution_id=execution_id)
        await db.commit()
        report = CallbackReport(delivery_id=delivery_id, completed=completed, output_artifact_id=output_id,
                                error_message=(payload.error_message or "the agent reported execution.failed")
                                [:FAILURE_MESSAGE_MAX] if not completed else None, received_at=utcnow())
        outcome = await temporal_calls.update_if_running(
            temporal, row.workflow_id, UpdateName.CALLBACK, [report], timeout=CALLBACK_TIMEOUT_SECONDS,
            result_type=CallbackAnswer, refusals={ALREADY_ENDED: _ignored})
        if outcome.state == "not_running":
            raise _Ignored("the execution's workflow has ended")
    except _Ignored as ignored:
        answer = WebhookAnswer(status="ignored", executionId=execution_id, reason=ignored.reason)
    if not await _record_delivery(db, delivery_id, workspace_id, execution_id, answer.status):
        return WebhookAnswer(status="duplicate", deliveryId=delivery_id)
    return answer
