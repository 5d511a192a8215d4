"""No record, export file, accounting answer or secret is in any job workflow's history: an import's records
travel as an artifact, an export's file and an accounting answer are artifacts the activities write, and the
accounting token is read by the call's activity (the histories are read, payloads decoded)."""

from __future__ import annotations

import json

from tests.e2e.platform_v1.job_world import ACCOUNTING_TOKEN, billing_world, configure_accounting, job_settled, payment
from tests.e2e.platform_v1.support import V1
from tests.e2e.platform_v1.test_engine_durability import _decoded

RECORD_MARK = "quetzalcoatl-record-body"
PAYMENT_MARK = "ext-pterodactyl-payment"


async def test_no_record_file_answer_or_token_is_in_any_job_history(api, worker, workspaces, accounting,
                                                                   temporal_client):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    world = await billing_world(admin)
    await configure_accounting(admin, accounting.url)
    accounting.pay(payment(PAYMENT_MARK, world["invoices"]["INV-2"]["id"], 50))
    jobs = []
    imported = await admin.post("/imports", json={"resource": "clients", "records": [{"name": RECORD_MARK}]})
    jobs.append(await job_settled(admin, imported.json()["id"]))
    exported = await admin.post("/exports", json={"resource": "clients", "format": "csv"})
    jobs.append(await job_settled(admin, exported.json()["id"]))
    synced = await admin.post("/integrations/accounting/sync")
    jobs.append(await job_settled(admin, synced.json()["id"]))
    assert [job["status"] for job in jobs] == ["succeeded"] * 3, jobs
    assert jobs[2]["result"]["paymentsCreated"] == 1
    histories = 0
    for job in jobs:
        execution = (await admin.get(f"/workflow-executions/{job['executionId']}")).json()
        assert execution["jobId"] == job["id"] and execution["type"] == job["type"]
        async for listed in temporal_client.list_workflows(f"WorkflowId = '{execution['temporal']['workflowId']}'"):
            history = await temporal_client.get_workflow_handle(listed.id, run_id=listed.run_id).fetch_history()
            text = "\n".join(_decoded(json.loads(history.to_json())))
            histories += 1
            assert job["id"] in text
            for secret_or_body in (ACCOUNTING_TOKEN, RECORD_MARK, PAYMENT_MARK, "Globex", "ap@globex.example"):
                assert secret_or_body not in text, (listed.id, secret_or_body)
    assert histories == 3


async def test_retrying_a_jobs_execution_retries_the_job(api, worker, workspaces):
    a, _ = workspaces
    admin = V1(api, "msp_admin", workspace=a)
    job = (await admin.post("/imports", json={"resource": "assets", "records": [
        {"clientId": "cli_" + "0" * 32, "name": "Laptop", "type": "laptop"}]})).json()
    failed = await job_settled(admin, job["id"], "failed")
    retried = await V1(api, "ops_engineer", workspace=a).post(f"/workflow-executions/{failed['executionId']}/retry")
    assert retried.status_code == 202, retried.text
    assert retried.json()["status"] in ("queued", "running")  # recorded queued by the new run before the answer
    record = retried.json()
    assert (record["retryCount"], record["jobId"], record["failureCode"]) == (1, job["id"], None)
    again = await job_settled(admin, job["id"], "failed")
    assert (again["retryCount"], again["errorCode"]) == (1, "invalid_reference")
