"""``POST /integrations/accounting/sync`` against a fake accounting system over real HTTP: the call's headers and
body, payments applied once (``externalId``, decided by Postgres), other workspaces' invoices rejected, an
invoice paid once its payments reach its amount (exact: 32.23 + 68.57 is 100.80, which floats miss), each error
code, ``adapter_not_configured`` and ``sync_in_progress``, and the retry of a failed sync."""

from __future__ import annotations

import pytest

from tests.e2e.platform_v1.engine_world import count_rows
from tests.e2e.platform_v1.job_world import ACCOUNTING_TOKEN, billing_world, configure_accounting, job_settled, payment
from tests.e2e.platform_v1.support import V1
from tests.fakes.accounting import Reply

SYNC = "/integrations/accounting/sync"


async def _synced(client: V1) -> dict:
    answer = await client.post(SYNC, json={})
    assert answer.status_code == 202, answer.text
    assert answer.headers["location"] == f"/api/v1/jobs/{answer.json()['id']}"
    assert answer.json()["type"] == "accounting_sync"
    return await job_settled(client, answer.json()["id"])


async def test_a_sync_sends_the_books_and_applies_payments_once(api, worker, workspaces, accounting):
    a, b = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    world = await billing_world(admin)
    theirs = await billing_world(V1(api, "msp_admin", workspace=b))
    await configure_accounting(admin, accounting.url)
    inv1, inv2 = world["invoices"]["INV-1"]["id"], world["invoices"]["INV-2"]["id"]
    accounting.pay(payment("ext-1", inv1, 32.23), payment("ext-2", inv1, 68.57), payment("ext-3", inv2, 20),
                   payment("ext-4", theirs["invoices"]["INV-1"]["id"], 5), payment("ext-5", "inv_" + "0" * 32, 5))
    integration = V1(api, "integration_admin", workspace=a)
    done = await _synced(integration)
    assert (done["status"], done["result"]) == ("succeeded", {
        "clientsSent": 1, "invoicesSent": 2, "paymentsCreated": 3, "paymentsSkipped": 0, "paymentsRejected": 2})
    [call] = accounting.calls()
    assert call.headers["authorization"] == f"Bearer {ACCOUNTING_TOKEN}"
    assert call.headers["idempotency-key"] == f"{done['id']}-0"
    assert call.headers["x-capstan-workspace-id"] == a and call.headers["x-correlation-id"] == done["correlationId"]
    assert call.json["jobId"] == done["id"] and call.json["workspaceId"] == a
    assert [c["id"] for c in call.json["clients"]] == [world["client"]["id"]]
    assert sorted(i["number"] for i in call.json["invoices"]) == ["INV-1", "INV-2"]  # not the draft
    assert (await admin.get(f"/invoices/{inv1}")).json()["status"] == "paid"
    assert (await admin.get(f"/invoices/{inv2}")).json()["status"] == "overdue"
    payments = (await admin.get("/payments", params={"invoiceId": inv1})).json()["data"]
    assert sorted(p["reference"] for p in payments) == ["ext-1", "ext-2"]
    assert {p["createdBy"] for p in payments} == {"accounting-sync"}
    audit = (await admin.get(f"/invoices/{inv1}/audit")).json()["data"]
    assert audit[0]["actor"] == "accounting-sync" and audit[0]["changes"]["status"]["to"] == "paid"
    again = await _synced(integration)
    assert again["result"] == {"clientsSent": 1, "invoicesSent": 2, "paymentsCreated": 0, "paymentsSkipped": 3,
                               "paymentsRejected": 2}
    assert accounting.calls()[1].headers["idempotency-key"] == f"{again['id']}-0"
    assert (await admin.get("/payments")).json()["page"]["total"] == 3
    assert (await V1(api, "msp_admin", workspace=b).get("/payments")).json()["page"]["total"] == 0


@pytest.mark.parametrize(("replies", "code", "calls"), [
    ((Reply(503), Reply(502), Reply(200, delay=4)), "adapter_unavailable", 3),
    ((Reply(401),), "adapter_rejected", 1),
    ((Reply(200, body=b'{"payments": [{"externalId": "x"}]}'),), "invalid_adapter_response", 1),
    ((Reply(200, body=b"not json"),), "invalid_adapter_response", 1),
])
async def test_each_failure_has_its_code(api, worker, workspaces, accounting, replies, code, calls):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    await configure_accounting(admin, accounting.url, timeout_seconds=1)
    accounting.script(*replies)
    done = await _synced(admin)
    assert (done["status"], done["errorCode"], done["result"]) == ("failed", code, None), done
    assert done["errorMessage"] and ACCOUNTING_TOKEN not in done["errorMessage"]
    assert len(accounting.calls()) == calls
    assert {c.headers["idempotency-key"] for c in accounting.calls()} == {f"{done['id']}-0"}


async def test_no_adapter_no_sync_and_one_sync_at_a_time(api, worker, workspaces, accounting, db_engine):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    refused = await admin.post(SYNC)
    assert (refused.status_code, refused.json()["error"]) == (409, "adapter_not_configured")
    assert await count_rows(db_engine, "platform_executions", "workspace_id = :ws", ws=a) == 0
    await configure_accounting(admin, accounting.url, timeout_seconds=5)
    accounting.script(Reply(200, delay=3))
    first = await admin.post(SYNC)
    assert first.status_code == 202, first.text
    busy = await admin.post(SYNC, json={})
    assert (busy.status_code, busy.json()["error"]) == (409, "sync_in_progress"), busy.text
    assert await count_rows(db_engine, "platform_executions", "workspace_id = :ws", ws=a) == 1
    await job_settled(admin, first.json()["id"])
    assert (await admin.post(SYNC, json={"full": True})).status_code == 400
    assert (await _synced(admin))["status"] == "succeeded"


async def test_a_failed_sync_is_retried_as_a_new_run_and_leaves_the_failures(api, worker, workspaces, accounting):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    await configure_accounting(admin, accounting.url)
    accounting.script(Reply(400))
    failed = await _synced(admin)
    assert failed["errorCode"] == "adapter_rejected"
    listed = (await admin.get("/agent-runtime/failures")).json()
    assert [(f["id"], f["kind"], f["code"], f["retryPath"]) for f in listed["data"]] == [
        (failed["id"], "job", "adapter_rejected", f"/api/v1/agent-runtime/job-failures/{failed['id']}/retry")]
    assert listed["sort"] == {"by": "failedAt", "order": "desc"}
    assert (await admin.get("/agent-runtime/failures", params={"kind": "outbox"})).json()["data"] == []
    retried = await V1(api, "data_admin", workspace=a).post(f"/agent-runtime/job-failures/{failed['id']}/retry")
    assert retried.status_code == 202, retried.text
    job = retried.json()
    # Recorded queued by the new run before the answer (which shows it queued, or running already).
    assert job["status"] in ("queued", "running") and job["id"] == failed["id"]
    assert (job["retryCount"], job["errorCode"], job["errorMessage"], job["completedAt"], job["result"]) == \
        (1, None, None, None, None)
    done = await job_settled(admin, failed["id"])
    assert done["status"] == "succeeded" and done["retryCount"] == 1
    assert accounting.calls()[-1].headers["idempotency-key"] == f"{failed['id']}-1"
    assert (await admin.get("/agent-runtime/failures")).json()["data"] == []
    again = await admin.post(f"/agent-runtime/job-failures/{failed['id']}/retry")
    assert (again.status_code, again.json()["error"], again.json()["currentStatus"]) == \
        (409, "invalid_transition", "succeeded")
    for missing in ("job_" + "0" * 32, "nope"):
        assert (await admin.post(f"/agent-runtime/job-failures/{missing}/retry")).status_code == 404


async def test_a_cancelled_sync_ends_cancelled_and_frees_the_workspace(api, worker, workspaces, accounting):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    await configure_accounting(admin, accounting.url, timeout_seconds=30)
    accounting.script(Reply(200, delay=4))
    job = (await admin.post(SYNC)).json()
    await job_settled(admin, job["id"], "running")
    cancelled = await V1(api, "ops_engineer", workspace=a).post(f"/workflow-executions/{job['executionId']}/cancel")
    assert cancelled.status_code == 202, cancelled.text
    done = await job_settled(admin, job["id"], "cancelled", timeout=10)
    assert done["completedAt"] and done["result"] is None and done["errorCode"] is None
    assert (await _synced(admin))["status"] == "succeeded"  # no sync was queued or running any more
