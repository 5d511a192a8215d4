"""``POST /integrations/notifications/test``: one signed delivery of ``notification.test`` made by
``NotificationTestWorkflow``, answered with what the adapter did; neither stored nor retried. And no workflow
history of the outbox holds a secret, an adapter URL or an event's data."""

from __future__ import annotations

import json

import pytest

from models.platform_v1.outbox_io import OutboxWorkflowName
from tests.e2e.platform_v1.outbox_support import (
    SIGNING_SECRET,
    delete_relay_schedule,
    notify_to,
    outbox,
    running_relay,
    until,
)
from tests.e2e.platform_v1.support import V1


@pytest.fixture
async def relay(temporal_client, settings):
    async with running_relay(temporal_client, settings):
        yield
    await delete_relay_schedule(temporal_client, settings)


async def test_a_test_notification_is_one_signed_delivery(api, workspaces, notification_receiver, relay):
    a, _ = workspaces
    admin = V1(api, "integration_admin", workspace=a)
    unconfigured = await admin.post("/integrations/notifications/test", json={"message": "hello"})
    assert unconfigured.status_code == 409, unconfigured.text
    assert unconfigured.json()["error"] == "adapter_not_configured"

    await notify_to(V1(api, "msp_admin", workspace=a), notification_receiver)
    answered = await admin.post("/integrations/notifications/test", json={"message": "hello"},
                                headers={"x-correlation-id": "corr-test"})
    assert answered.status_code == 200, answered.text
    result = answered.json()
    assert result["delivered"] is True and result["httpStatus"] == 200 and result["error"] is None
    assert result["eventId"].startswith("evt_") and isinstance(result["durationMs"], int)
    [sent] = notification_receiver.received
    assert sent.headers["x-capstan-event"] == "notification.test"
    assert sent.headers["x-capstan-delivery"] == result["eventId"]
    assert notification_receiver.signed_by(SIGNING_SECRET, sent)
    assert sent.json["subject"] == {"type": "workspace", "id": a} and sent.json["data"] == {"message": "hello"}
    assert sent.json["topic"] == "notification.test" and sent.json["correlationId"] == "corr-test"
    assert await outbox(admin) == [], "a test notification is not stored"

    notification_receiver.fail_next(1, status=502)
    failing = (await admin.post("/integrations/notifications/test")).json()  # no body: no message
    assert (failing["delivered"], failing["httpStatus"]) == (False, 502)
    assert failing["error"] == "the adapter answered HTTP 502"
    assert len(notification_receiver.received) == 2, "not retried"
    assert notification_receiver.received[-1].json["data"] == {"message": None}

    notification_receiver.stop()
    down = (await admin.post("/integrations/notifications/test", json={})).json()
    assert down["delivered"] is False and down["httpStatus"] is None and down["error"]

    for bad in ({"message": "x" * 501}, {"message": 5}, {"text": "hi"}, {"message": "a\u0000b"}):
        refused = await admin.post("/integrations/notifications/test", json=bad)
        assert refused.status_code == 400, (bad, refused.text)
    viewer = await V1(api, "ops_engineer", workspace=a).post("/integrations/notifications/test")
    assert viewer.status_code == 403


async def test_no_outbox_history_holds_a_secret_a_url_or_event_data(api, workspaces, notification_receiver, relay,
                                                                     temporal_client, settings):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    await notify_to(admin, notification_receiver)
    client_id = (await admin.post("/clients", json={"name": "Globex"})).json()["id"]
    await admin.post("/tickets", json={"clientId": client_id, "title": "Confidential printer fire"})
    assert (await admin.post("/integrations/notifications/test", json={"message": "ping"})).json()["delivered"]
    await until("the ticket's notification", lambda: len(notification_receiver.received) >= 2)

    queue = f"{settings.temporal.task_queue}-platform_v1"
    seen: set[str] = set()
    texts = []
    async for listed in temporal_client.list_workflows(f'TaskQueue="{queue}"'):
        seen.add(listed.workflow_type)
        history = await temporal_client.get_workflow_handle(listed.id, run_id=listed.run_id).fetch_history()
        texts.append(json.dumps(history.to_json_dict()))
    assert {OutboxWorkflowName.OUTBOX_RELAY, OutboxWorkflowName.NOTIFICATION_TEST} <= seen, seen
    for text in texts:
        for leaked in (SIGNING_SECRET, notification_receiver.hook_url, "Confidential"):
            assert leaked not in text
