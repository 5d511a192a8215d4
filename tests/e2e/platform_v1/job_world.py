"""What the job tests share: a job settled (polled: its workflow writes it), a client with invoices, and the
accounting adapter configured on a fake accounting system."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from tests.e2e.platform_v1.support import V1

SETTLE_SECONDS = 30.0
ACCOUNTING_TOKEN = "accounting-token-for-tests-0123456789"


async def job_settled(client: V1, job_id: str, *statuses: str, timeout: float = SETTLE_SECONDS) -> dict[str, Any]:
    """The job once its status is one of ``statuses`` (default: an ending)."""
    wanted = statuses or ("succeeded", "failed", "cancelled")
    deadline = time.monotonic() + timeout
    while True:
        got = await client.get(f"/jobs/{job_id}")
        assert got.status_code == 200, got.text
        if got.json()["status"] in wanted:
            return got.json()
        assert time.monotonic() < deadline, f"still {got.json()['status']}, not {wanted}: {got.json()}"
        await asyncio.sleep(0.1)


async def created(client: V1, resource: str, body: dict[str, Any]) -> dict[str, Any]:
    answer = await client.post(f"/{resource}", json=body)
    assert answer.status_code == 201, answer.text
    return answer.json()


async def billing_world(client: V1) -> dict[str, Any]:
    """A client with an issued invoice of 100.80, an overdue one of 50 and a draft one."""
    customer = await created(client, "clients", {"name": "Globex", "email": "ap@globex.example"})
    invoices = {}
    for number, status, amount in (("INV-1", "issued", 100.80), ("INV-2", "overdue", 50), ("INV-3", "draft", 10)):
        invoices[number] = await created(client, "invoices", {
            "clientId": customer["id"], "number": number, "status": status, "issueDate": "2026-11-01",
            "dueDate": "2026-12-01", "amount": amount, "currency": "USD"})
    return {"client": customer, "invoices": invoices}


async def configure_accounting(admin: V1, base_url: str, token: str | None = ACCOUNTING_TOKEN,
                               timeout_seconds: int = 2) -> None:
    put = await admin.put("/workspace/settings", json={"settings": {"integrations": {"accounting": {
        "baseUrl": base_url, "timeoutSeconds": timeout_seconds}}}})
    assert put.status_code == 200, put.text
    if token is not None:
        secret = await admin.post("/workspace/secrets/accounting.token", json={"value": token})
        assert secret.status_code in (200, 201), secret.text


def payment(external_id: str, invoice_id: str, amount: Any, **extra: Any) -> dict[str, Any]:
    return {"externalId": external_id, "invoiceId": invoice_id, "amount": amount, "currency": "USD",
            "method": "bank_transfer", "receivedAt": "2026-12-02T10:00:00Z", **extra}


IMPORTS = "/api/v1/imports"
SYNC_ROUTE = "/api/v1/integrations/accounting/sync"
JOB_RETRY = "/api/v1/agent-runtime/job-failures/{job_id}/retry"


async def failed_import(client: V1, word: str) -> str:
    """A job failed ``invalid_reference`` (an asset naming a client that does not exist)."""
    answer = await client.post("/imports", json={"resource": "assets", "records": [
        {"clientId": "cli_" + "0" * 32, "name": f"{word} laptop", "type": "laptop"}]})
    assert answer.status_code == 202, answer.text
    await job_settled(client, answer.json()["id"], "failed")
    return answer.json()["id"]


async def seed_jobs(client: V1, accounting_url: str, word: str) -> dict[str, str]:
    """A succeeded import job and the workspace's accounting adapter on the fake: the ids the job routes take."""
    answer = await client.post("/imports", json={"resource": "runbooks", "records": [
        {"title": f"{word} restart the spooler", "steps": ["stop", "start"]}]})
    assert answer.status_code == 202, answer.text
    await job_settled(client, answer.json()["id"], "succeeded")
    await configure_accounting(client, accounting_url)
    return {"jobs": answer.json()["id"], "accountingUrl": accounting_url}


async def job_call_ids(client: V1, method: str, path: str, ids: dict[str, str]) -> dict[str, str]:
    """``ids`` ready for a job route's allowed call: a failed job of its own to retry; for a sync, the adapter
    configured (a PUT of the settings may have replaced it) and no other sync queued or running."""
    if (method, path) == ("POST", JOB_RETRY):
        return {**ids, "jobs": await failed_import(client, "retry")}
    if (method, path) == ("POST", SYNC_ROUTE):
        await configure_accounting(client, ids["accountingUrl"], token=None)
        for status in ("queued", "running"):
            for job in (await client.get("/jobs", params={"type": "accounting_sync", "status": status})).json()["data"]:
                await job_settled(client, job["id"])
    return ids
