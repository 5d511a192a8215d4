"""The relay delivers every event to the workspace's notification adapter over real HTTP, signed, at least once
and as few times as that allows: a receiver that fails, answers late or is down gets it once it answers 2xx; a
relay (worker) that is down delivers what waited once it is back; out of tries the event is ``failed`` with the
last error, and the retry route delivers it."""

from __future__ import annotations

import time

import httpx
import pytest
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter

from api.app import create_app
from capstan.devstack.ports import free_port
from capstan.settings import Settings
from models.platform_v1.outbox_io import RelaySweep
from models.platform_v1.settings import PlatformSettings
from tests.e2e.platform_v1.outbox_support import (
    SIGNING_SECRET,
    delete_relay_schedule,
    event_of,
    notify_to,
    outbox,
    running_relay,
    until,
)
from tests.e2e.platform_v1.support import JWT_SECRET, V1

MAX_ATTEMPTS = 3


@pytest.fixture(autouse=True)
def platform_settings(settings: Settings) -> Settings:
    """Fewer tries and a quick sweep, so running out of tries takes seconds."""
    settings.platform = PlatformSettings(jwt_secret=JWT_SECRET, outbox_max_attempts=MAX_ATTEMPTS,
                                         outbox_sweep_seconds=1)
    return settings


@pytest.fixture
async def relay(temporal_client, settings):
    async with running_relay(temporal_client, settings):
        yield
    await delete_relay_schedule(temporal_client, settings)


@pytest.fixture
async def admin(api, workspaces) -> V1:
    return V1(api, "msp_admin", workspace=workspaces[0])


async def _ticket(admin: V1, title: str = "Printer on fire") -> str:
    client_id = (await admin.post("/clients", json={"name": "Globex"})).json()["id"]
    created = await admin.post("/tickets", json={"clientId": client_id, "title": title},
                               headers={"x-correlation-id": f"corr-{title.split()[0].lower()}"})
    assert created.status_code == 201, created.text
    return created.json()["id"]


async def _delivered(admin: V1, ticket_id: str) -> dict:
    async def check():
        event = await event_of(admin, ticket_id, "ticket.created")
        return event if event["status"] != "pending" else None
    return await until(f"the event of {ticket_id} delivered or failed", check)


async def test_an_event_reaches_the_adapter_signed_with_the_workspace_secret(admin, notification_receiver, relay):
    await notify_to(admin, notification_receiver)
    ticket_id = await _ticket(admin)
    event = await _delivered(admin, ticket_id)
    assert event["status"] == "delivered"
    [delivery] = event["deliveries"]
    assert (delivery["subscriber"], delivery["status"], delivery["attempts"], delivery["lastError"]) == \
        ("notifications", "delivered", 1, None)
    [sent] = notification_receiver.of_event(event["id"])
    assert sent.headers["content-type"] == "application/json"
    assert sent.headers["x-capstan-event"] == "ticket.created"
    assert sent.headers["x-capstan-delivery"] == event["id"]
    assert sent.headers["x-correlation-id"] == "corr-printer"
    assert notification_receiver.signed_by(SIGNING_SECRET, sent)
    assert not notification_receiver.signed_by(SIGNING_SECRET + "x", sent)
    assert sent.json == {key: event[key] for key in ("id", "workspaceId", "topic", "subject", "data", "occurredAt",
                                                     "correlationId")}
    # Not a topic the adapter chose (the seven by default): written, delivered to nobody.
    await admin.patch(f"/tickets/{ticket_id}", json={"status": "open"})
    updated = await event_of(admin, ticket_id, "ticket.updated")
    assert (updated["status"], updated["deliveries"]) == ("delivered", [])
    assert len(notification_receiver.received) == 1


async def test_without_a_signing_secret_a_notification_is_sent_unsigned(admin, notification_receiver, relay):
    await notify_to(admin, notification_receiver, secret=None)
    event = await _delivered(admin, await _ticket(admin))
    [sent] = notification_receiver.of_event(event["id"])
    assert "x-capstan-signature" not in sent.headers and event["status"] == "delivered"


async def test_a_failing_or_slow_receiver_gets_the_event_once_it_answers(admin, notification_receiver, relay):
    await notify_to(admin, notification_receiver, timeout_seconds=1)
    notification_receiver.fail_next(1, status=503)
    notification_receiver.answer_slowly(3.0)   # the second try: past the adapter's 1 s
    event = await _delivered(admin, await _ticket(admin))
    assert event["status"] == "delivered"
    assert event["deliveries"][0]["attempts"] == 3
    tries = notification_receiver.of_event(event["id"])
    # The slow answer came after the relay had given up on it: recorded, then sent once more and delivered.
    assert [t.status for t in tries] == [503, 200, 200] or [t.status for t in tries] == [503, 200]
    assert len({t.body for t in tries}) == 1 and len({t.headers["x-capstan-delivery"] for t in tries}) == 1


async def test_out_of_tries_the_event_fails_and_the_retry_route_delivers_it(api, admin, notification_receiver,
                                                                            relay):
    await notify_to(admin, notification_receiver)
    notification_receiver.fail_next(MAX_ATTEMPTS, status=500)
    ticket_id = await _ticket(admin)
    failed = await _delivered(admin, ticket_id)
    assert failed["status"] == "failed"
    [delivery] = failed["deliveries"]
    assert (delivery["status"], delivery["attempts"]) == ("failed", MAX_ATTEMPTS)
    assert delivery["lastError"] == "the adapter answered HTTP 500"
    assert [e["id"] for e in await outbox(admin, status="failed")] == [failed["id"]]
    assert len(notification_receiver.of_event(failed["id"])) == MAX_ATTEMPTS

    ops = V1(api, "ops_engineer", workspace=admin.workspace)
    retried = await ops.post(f"/agent-runtime/outbox-failures/{failed['id']}/retry")
    assert retried.status_code == 202, retried.text
    body = retried.json()
    assert body["id"] == failed["id"] and body["status"] in ("pending", "delivered")
    if body["status"] == "pending":
        assert body["deliveries"][0]["attempts"] == 0 and body["deliveries"][0]["status"] == "pending"
    delivered = await _delivered(admin, ticket_id)
    assert delivered["status"] == "delivered" and delivered["deliveries"][0]["attempts"] == 1
    assert [t.status for t in notification_receiver.of_event(failed["id"])] == [500] * MAX_ATTEMPTS + [200]

    again = await ops.post(f"/agent-runtime/outbox-failures/{failed['id']}/retry")
    assert again.status_code == 409, again.text
    assert again.json()["error"] == "invalid_transition" and again.json()["currentStatus"] == "delivered"
    for unknown in ("evt_" + "0" * 32, "not-an-id", "evt_" + "f" * 400):
        missing = await ops.post(f"/agent-runtime/outbox-failures/{unknown}/retry")
        assert missing.status_code == 404 and missing.json()["error"] == "not_found", missing.text
    assert (await ops.post(f"/agent-runtime/outbox-failures/{failed['id']}/retry", json={"x": 1})).status_code == 400


async def test_nothing_is_lost_while_the_receiver_is_down(admin, notification_receiver, relay):
    await notify_to(admin, notification_receiver)
    notification_receiver.stop()
    ticket_id = await _ticket(admin)

    async def tried_and_refused():
        event = await event_of(admin, ticket_id, "ticket.created")
        return event["deliveries"][0]["lastError"]
    error = await until("a try refused by the receiver that is down", tried_and_refused)
    assert "Connect" in error
    notification_receiver.start()
    event = await _delivered(admin, ticket_id)
    assert event["status"] == "delivered"
    assert len(notification_receiver.of_event(event["id"])) == 1


async def test_nothing_is_lost_while_the_relay_is_down(temporal_client, settings, admin, notification_receiver):
    """No worker: every event waits, pending; once a worker serves the relay each reaches the receiver once
    (more than one batch of them)."""
    await notify_to(admin, notification_receiver)
    ticket_ids = [await _ticket(admin, f"Ticket {n}") for n in range(RelaySweep().batch_size + 4)]
    events = [await event_of(admin, ticket_id, "ticket.created") for ticket_id in ticket_ids]
    assert {e["status"] for e in events} == {"pending"} and notification_receiver.received == []
    try:
        async with running_relay(temporal_client, settings):
            for ticket_id in ticket_ids:
                assert (await _delivered(admin, ticket_id))["status"] == "delivered"
    finally:
        await delete_relay_schedule(temporal_client, settings)
    assert sorted(n.headers["x-capstan-delivery"] for n in notification_receiver.received) == \
        sorted(e["id"] for e in events)


async def test_the_api_nudges_the_relay_so_a_notification_does_not_wait_for_the_sweep(
        api, settings, temporal_client, workspaces, notification_receiver):
    """A sweep every hour: the event still leaves within seconds of its commit, because the route triggers the
    relay's Schedule once it has committed."""
    settings.platform = PlatformSettings(jwt_secret=JWT_SECRET, outbox_max_attempts=MAX_ATTEMPTS,
                                         outbox_sweep_seconds=3600)
    admin = V1(api, "msp_admin", workspace=workspaces[0])
    await notify_to(admin, notification_receiver)
    try:
        async with running_relay(temporal_client, settings):
            started = time.monotonic()
            event = await _delivered(admin, await _ticket(admin))
            assert event["status"] == "delivered" and time.monotonic() - started < 15
    finally:
        await delete_relay_schedule(temporal_client, settings)


async def test_with_temporal_down_at_the_commit_the_write_succeeds_and_the_sweep_delivers(
        api, api_factory, settings, temporal_client, workspaces, notification_receiver):
    admin = V1(api, "msp_admin", workspace=workspaces[0])
    await notify_to(admin, notification_receiver)
    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True, data_converter=pydantic_data_converter)
    app = create_app(settings, temporal_client=nowhere)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://capstan.test") as cut:
            started = time.monotonic()
            ticket_id = await _ticket(V1(cut, "msp_admin", workspace=workspaces[0]))
            assert time.monotonic() - started < 10, "the nudge's failure held the request"
    assert (await event_of(admin, ticket_id, "ticket.created"))["status"] == "pending"
    try:
        async with running_relay(temporal_client, settings):
            assert (await _delivered(admin, ticket_id))["status"] == "delivered"
    finally:
        await delete_relay_schedule(temporal_client, settings)
    assert len(notification_receiver.received) == 1
