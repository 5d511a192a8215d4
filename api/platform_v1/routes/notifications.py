"""``POST /integrations/notifications/test``: one delivery to the workspace's notification adapter, answered."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.outbox import send_test_notification
from models.platform_v1.event_contracts import NotificationTestBody, NotificationTestPublic

router = APIRouter(tags=["integrations"])

TEST_RESPONSES: dict[int | str, dict[str, Any]] = {
    409: {"description": "`adapter_not_configured`: no `integrations.notifications` workspace setting; or "
                         "`idempotency_key_in_flight` (see `Retry-After`)"},
    503: {"description": "`no_worker`: no worker made the delivery within 15 s; or Temporal is unavailable"}}


@platform_route(router, "POST", f"{V1}/integrations/notifications/test", summary="Send a test notification",
                description="`NotificationTestWorkflow` makes one delivery of topic `notification.test` to the "
                            "adapter, signed as every notification is; not stored, not retried. Waits up to 15 s.",
                responses=TEST_RESPONSES, response_model=NotificationTestPublic)
async def test_notification(caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                            settings: SettingsDep, body: NotificationTestBody | None = None) -> Response:
    message = body.message if body is not None else None
    return json_answer(await send_test_notification(db, temporal, settings, caller, message))
