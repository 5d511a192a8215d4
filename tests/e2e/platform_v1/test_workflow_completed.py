"""``POST /webhooks/workflow-completed``: an agent that answered 202 reports the outcome later. The checks in
their order (no secret, the signature over the raw body, the delivery id, a duplicate, the body, the
outcome), a delivery sent twice applied once, an ended execution ignored, and the callback timer."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from models.platform_v1.settings import PlatformSettings
from tests.e2e.platform_v1.engine_world import (
    WEBHOOK,
    WEBHOOK_SECRET,
    count_rows,
    deliver,
    execute,
    register_agent,
    settled,
    signature,
)
from tests.e2e.platform_v1.support import JWT_SECRET, V1


def _secret(settings) -> None:
    settings.platform.agentfield_webhook_secret = SecretStr(WEBHOOK_SECRET)


async def _waiting(api, workspace: str, agent_node, reasoners=None) -> tuple[V1, dict]:
    """An async execution whose agent answered 202, waiting for its callback."""
    ops = V1(api, "ops_engineer", workspace=workspace)
    await register_agent(ops, agent_node.url, reasoners=reasoners)
    started = await execute(ops, "helper.later", {"task": "reboot"}, mode="async")
    assert started.status_code == 202, started.text
    await asyncio.to_thread(agent_node.wait_for_calls, 1)
    return ops, await settled(ops, started.json()["id"], "running")


async def test_a_completed_callback_succeeds_the_execution_once(api, worker, settings, workspaces, agent_node,
                                                                db_engine):
    _secret(settings)
    a, _ = workspaces
    ops, record = await _waiting(api, a, agent_node)
    payload = {"event": "execution.completed", "execution_id": record["id"], "status": "succeeded",
               "result": {"rebooted": True}, "error_message": None, "duration_ms": 1234,
               "timestamp": "2026-12-08T00:00:00Z", "extra": "ignored"}
    first = await deliver(api, payload, delivery="dlv-1")
    assert first.status_code == 200, first.text
    assert first.json() == {"status": "accepted", "executionId": record["id"]}
    done = await settled(ops, record["id"], "succeeded")
    assert (await ops.get(done["outputRef"].removeprefix("/api/v1"))).json() == {"rebooted": True}
    evidence = (await ops.get(done["evidenceRef"].removeprefix("/api/v1"))).json()
    assert evidence["callback"]["deliveryId"] == "dlv-1" and [t["httpStatus"] for t in evidence["attempts"]] == [202]

    again = await deliver(api, payload, delivery="dlv-1")
    assert again.status_code == 200 and again.json() == {"status": "duplicate", "deliveryId": "dlv-1"}
    other = await deliver(api, {**payload, "event": "execution.failed", "error_message": "late"}, delivery="dlv-2")
    assert other.status_code == 200 and other.json()["status"] == "ignored", other.text
    assert other.json()["executionId"] == record["id"] and other.json()["reason"]
    after = (await ops.get(f"/workflow-executions/{record['id']}")).json()
    assert after == done
    assert await count_rows(db_engine, "platform_events", "topic = 'workflow.completed' AND subject_id = :id",
                            id=record["id"]) == 1


async def test_the_same_delivery_sent_twice_at_once_is_applied_once(api, worker, settings, workspaces, agent_node,
                                                                    db_engine):
    _secret(settings)
    a, _ = workspaces
    ops, record = await _waiting(api, a, agent_node)
    payload = {"event": "execution.failed", "execution_id": record["id"], "error_message": "disk full"}
    answers = await asyncio.gather(*(deliver(api, payload, delivery="same-delivery") for _ in range(4)))
    statuses = sorted(answer.json()["status"] for answer in answers)
    assert all(answer.status_code == 200 for answer in answers), [a.text for a in answers]
    assert statuses.count("accepted") == 1 and set(statuses) <= {"accepted", "duplicate", "ignored"}, statuses
    failed = await settled(ops, record["id"], "failed")
    assert (failed["failureCode"], failed["failureMessage"]) == ("agent_failed", "disk full")
    assert await count_rows(db_engine, "platform_webhook_deliveries", "delivery_id = 'same-delivery'") == 1
    assert await count_rows(db_engine, "platform_events", "topic = 'workflow.completed' AND subject_id = :id",
                            id=record["id"]) == 1


async def test_the_checks_come_in_order_and_a_refused_delivery_changes_nothing(api, worker, settings, workspaces,
                                                                              agent_node, db_engine):
    a, _ = workspaces
    ops, record = await _waiting(api, a, agent_node)
    payload = {"event": "execution.completed", "execution_id": record["id"], "result": {}}
    unconfigured = await deliver(api, payload)
    assert (unconfigured.status_code, unconfigured.json()["error"]) == (503, "webhook_not_configured")
    _secret(settings)
    forged = await deliver(api, payload, secret="not-the-secret")
    assert (forged.status_code, forged.json()["error"]) == (401, "invalid_signature")
    unsigned = await deliver(api, payload, secret=None)
    assert (unsigned.status_code, unsigned.json()["error"]) == (401, "invalid_signature")
    # The signature is over the raw bytes: the same JSON with other spacing does not pass.
    body = b'{"event": "execution.completed",  "execution_id": "%s"}' % record["id"].encode()
    respaced = await api.post(WEBHOOK, content=body, headers={
        "content-type": "application/json", "x-agentfield-delivery": "d-x",
        "x-agentfield-signature": signature(body.replace(b",  ", b", "))})
    assert respaced.status_code == 401
    bad_signed_garbage = await api.post(WEBHOOK, content=b"\x00not json", headers={
        "x-agentfield-delivery": "d-y", "x-agentfield-signature": "sha256=00"})
    assert bad_signed_garbage.status_code == 401  # the signature before the body is looked at
    no_delivery = await deliver(api, payload, headers={"x-agentfield-delivery": ""})
    assert (no_delivery.status_code, no_delivery.json()["error"]) == (400, "delivery_required")
    for bad in ({"event": "execution.paused", "execution_id": record["id"]}, {"event": "execution.completed"},
                {"event": "execution.completed", "execution_id": 7}, ["not", "an", "object"]):
        refused = await deliver(api, bad)  # type: ignore[arg-type]
        assert refused.status_code == 400, (bad, refused.text)
    unknown = await deliver(api, {**payload, "execution_id": "wex_" + "0" * 32})
    assert (unknown.status_code, unknown.json()["error"]) == (404, "not_found")
    assert (await ops.get(f"/workflow-executions/{record['id']}")).json()["status"] == "running"
    assert await count_rows(db_engine, "platform_webhook_deliveries") == 0


async def test_with_authentication_disabled_and_no_secret_unsigned_deliveries_pass(api_factory, settings,
                                                                                 worker, workspaces, agent_node):
    a, _ = workspaces
    async with api_factory(settings) as api:
        ops, record = await _waiting(api, a, agent_node)
    settings.platform = PlatformSettings(jwt_secret=JWT_SECRET, auth_mode="disabled")
    async with api_factory(settings) as open_api:
        accepted = await deliver(open_api, {"event": "execution.completed", "execution_id": record["id"],
                                            "result": [1, 2]}, secret=None)
        assert accepted.status_code == 200 and accepted.json()["status"] == "accepted", accepted.text
        done = await settled(V1(open_api, "ops_engineer", workspace=a), record["id"], "succeeded")
        assert done["outputRef"]


async def test_no_callback_within_its_timeout_fails_the_execution(api, worker, settings, workspaces, agent_node):
    _secret(settings)
    a, _ = workspaces
    ops, record = await _waiting(api, a, agent_node, reasoners=[{"id": "later", "callbackTimeoutSeconds": 1}])
    failed = await settled(ops, record["id"], "failed")
    assert failed["failureCode"] == "agent_timeout" and "callback" in failed["failureMessage"]
    late = await deliver(api, {"event": "execution.completed", "execution_id": record["id"], "result": {}})
    assert late.status_code == 200 and late.json()["status"] == "ignored"
