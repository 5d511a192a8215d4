"""What the engine's e2e tests share: a fake agent node, an agent registered on it, executions in each state,
and the signed workflow-completed webhook."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
import uuid
from typing import Any

import httpx
from sqlalchemy import text

from tests.e2e.platform_v1.support import V1

REASONERS = [{"id": "echo"}, {"id": "reject"}, {"id": "hold"}, {"id": "later", "callbackTimeoutSeconds": 600},
             {"id": "flaky"}]
WEBHOOK_SECRET = "agentfield-webhook-secret-for-tests"
WEBHOOK = "/api/v1/webhooks/workflow-completed"
#: How long a test waits for an execution to reach a status before it fails.
SETTLE_SECONDS = 30.0


def agent_body(base_url: str, reasoners: list[dict[str, Any]] | None = None, **extra: Any) -> dict[str, Any]:
    return {"baseUrl": base_url, "version": "1.0.0", "reasoners": reasoners or REASONERS, **extra}


async def register_agent(client: V1, base_url: str, agent_id: str = "helper", **body: Any) -> dict[str, Any]:
    put = await client.put(f"/agent-runtime/agents/{agent_id}", json=agent_body(base_url, **body))
    assert put.status_code in (200, 201), put.text
    return put.json()


async def execute(client: V1, target: str, payload: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None, **body: Any) -> httpx.Response:
    return await client.post(f"/execute/{target}", json={"input": payload or {"question": "ping"}, **body},
                             headers=headers)


async def settled(client: V1, execution_id: str, *statuses: str, timeout: float = SETTLE_SECONDS) -> dict[str, Any]:
    """The execution once its status is one of ``statuses`` (polled: the workflow writes it)."""
    deadline = time.monotonic() + timeout
    while True:
        got = await client.get(f"/workflow-executions/{execution_id}")
        assert got.status_code == 200, got.text
        if got.json()["status"] in statuses:
            return got.json()
        assert time.monotonic() < deadline, f"still {got.json()['status']}, not {statuses}: {got.json()}"
        await asyncio.sleep(0.1)


def signature(body: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def deliver(api: httpx.AsyncClient, payload: dict[str, Any], *, delivery: str | None = None,
                  secret: str | None = WEBHOOK_SECRET, headers: dict[str, str] | None = None) -> httpx.Response:
    body = json.dumps(payload).encode()
    sent = {"content-type": "application/json", "x-agentfield-delivery": delivery or uuid.uuid4().hex}
    if secret is not None:
        sent["x-agentfield-signature"] = signature(body, secret)
    return await api.post(WEBHOOK, content=body, headers={**sent, **(headers or {})})


async def count_rows(db_engine, table: str, where: str = "true", **params: Any) -> int:
    async with db_engine.connect() as conn:
        return (await conn.execute(text(f"SELECT count(*) FROM {table} WHERE {where}"), params)).scalar_one()


async def seed_engine(client: V1, base_url: str, word: str) -> dict[str, str]:
    """An agent of the workspace on the fake node and one succeeded execution: the ids the engine's routes take."""
    agent_id = f"{word}-agent"
    await register_agent(client, base_url, agent_id)
    ran = await execute(client, f"{agent_id}.echo", {"word": word})
    assert ran.status_code == 200 and ran.json()["status"] == "succeeded", ran.text
    return {"agents": agent_id, "target": f"{agent_id}.echo", "executions": ran.json()["id"],
            "artifacts": ran.json()["outputRef"].rsplit("/", 1)[1], "agentBaseUrl": base_url}


async def failed_execution(client: V1, ids: dict[str, str]) -> str:
    ran = await execute(client, f"{ids['agents']}.reject")
    assert ran.status_code == 200 and ran.json()["status"] == "failed", ran.text
    return ran.json()["id"]


async def held_execution(client: V1, ids: dict[str, str]) -> str:
    ran = await execute(client, f"{ids['agents']}.hold", mode="async")
    assert ran.status_code == 202, ran.text
    return ran.json()["id"]


RETRY = "/api/v1/workflow-executions/{execution_id}/retry"
CANCEL = "/api/v1/workflow-executions/{execution_id}/cancel"


async def fresh_ids(client: V1, method: str, path: str, ids: dict[str, str]) -> dict[str, str]:
    """``ids`` with an execution of its own for an action that uses one up: a failed one to retry, a running
    one to cancel (as a delete gets a record of its own)."""
    if (method, path) == ("POST", RETRY):
        return {**ids, "executions": await failed_execution(client, ids)}
    if (method, path) == ("POST", CANCEL):
        return {**ids, "executions": await held_execution(client, ids)}
    return ids
