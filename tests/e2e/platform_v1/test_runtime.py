"""``GET /agent-runtime/health`` and ``GET /agent-runtime/queues``: each component as the contract says, from
real Temporal (pollers of the platform queue) and the workspace's records."""

from __future__ import annotations

import asyncio
import time
import uuid

from sqlalchemy import text

from tests.e2e.platform_v1.engine_world import register_agent
from tests.e2e.platform_v1.support import V1


async def _health_until(client: V1, condition, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        answer = await client.get("/agent-runtime/health")
        assert answer.status_code == 200, answer.text
        if condition(answer.json()):
            return answer.json()
        assert time.monotonic() < deadline, answer.json()
        await asyncio.sleep(0.2)


async def test_with_a_worker_and_a_healthy_agent_everything_is_ok(api, worker, workspaces, agent_node, settings):
    a, _ = workspaces
    viewer = V1(api, "viewer", workspace=a)
    await register_agent(V1(api, "ops_engineer", workspace=a), agent_node.url)
    health = await _health_until(viewer, lambda body: body["components"]["workers"]["status"] == "ok")
    assert health["status"] == "ok", health
    components = health["components"]
    assert components["temporal"]["status"] == "ok"
    assert components["agents"] == {"status": "ok", "total": 1, "healthy": 1, "stale": 0}
    assert components["outbox"] == {"status": "ok", "pending": 0, "failed": 0, "oldestPendingSeconds": None}
    assert components["jobs"] == {"status": "ok", "queued": 0, "running": 0, "failed": 0}
    queues = (await viewer.get("/agent-runtime/queues")).json()
    [queue] = queues["data"]
    assert queue["name"] == f"{settings.temporal.task_queue}-platform_v1"
    assert queue["workflowPollers"] >= 1 and queue["activityPollers"] >= 1
    assert queues["page"]["total"] == 1


async def test_no_worker_stale_agents_and_a_failed_event_degrade_their_components(api, workspaces, agent_node,
                                                                                 settings, db_engine):
    a, b = workspaces
    await register_agent(V1(api, "ops_engineer", workspace=a), agent_node.url)
    settings.platform.agent_stale_seconds = 0.001
    async with db_engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO platform_events (id, workspace_id, topic, subject_type, subject_id, data, occurred_at, "
            "status, created_at) VALUES (:id, :ws, 'ticket.created', 'ticket', 'tkt_1', '{}', now(), 'failed', "
            "now())"), {"id": f"evt_{uuid.uuid4().hex}", "ws": a})
    health = (await V1(api, "viewer", workspace=a).get("/agent-runtime/health")).json()
    assert health["status"] == "degraded"
    components = health["components"]
    assert components["workers"]["status"] == "degraded" and "no worker" in components["workers"]["detail"]
    assert components["agents"] == {"status": "degraded", "total": 1, "healthy": 0, "stale": 1}
    assert components["outbox"]["status"] == "degraded" and components["outbox"]["failed"] == 1
    other = (await V1(api, "viewer", workspace=b).get("/agent-runtime/health")).json()["components"]
    assert other["agents"]["total"] == 0 and other["outbox"]["failed"] == 0  # workspace B sees its own
    refused = await V1(api, "viewer", workspace=a).get("/agent-runtime/health", params={"deep": "1"})
    assert (refused.status_code, refused.json()["error"]) == (400, "unknown_parameter")


async def test_the_smoke_check_runs_its_checks_as_an_execution(api, worker, workspaces, agent_node):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    await register_agent(ops, agent_node.url)
    bare = await ops.post("/agent-runtime/smoke")
    assert bare.status_code == 200, bare.text
    assert bare.json()["status"] == "passed"
    assert [(c["name"], c["status"]) for c in bare.json()["checks"]] == [("worker", "passed"), ("database", "passed")]
    record = (await ops.get(f"/workflow-executions/{bare.json()['executionId']}")).json()
    assert (record["type"], record["status"], record["target"]) == ("smoke", "succeeded", None)

    with_agent = await ops.post("/agent-runtime/smoke", json={"target": "helper.echo", "input": {"ping": 1}})
    assert with_agent.status_code == 200 and with_agent.json()["status"] == "passed", with_agent.text
    assert with_agent.json()["checks"][-1]["name"] == "agent"
    [call] = agent_node.calls("echo")
    assert call.json == {"ping": 1} and call.headers["x-execution-id"] == with_agent.json()["executionId"]

    rejected = await ops.post("/agent-runtime/smoke", json={"target": "helper.reject"})
    assert rejected.status_code == 200 and rejected.json()["status"] == "failed"
    assert rejected.json()["checks"][-1] == {**rejected.json()["checks"][-1], "name": "agent", "status": "failed"}
    assert len(agent_node.calls("reject")) == 1  # not retried
    failed = (await ops.get(f"/workflow-executions/{rejected.json()['executionId']}")).json()
    assert failed["type"] == "smoke" and failed["status"] == "failed"

    for body, status, error in (({"target": "nobody.echo"}, 404, "agent_not_found"),
                                ({"target": "helper"}, 400, "invalid_target"),
                                ({"input": {}}, 400, "validation_error"), ({"extra": 1}, 400, "validation_error")):
        refused = await ops.post("/agent-runtime/smoke", json=body)
        assert (refused.status_code, refused.json()["error"]) == (status, error), (body, refused.text)
    viewer = await V1(api, "viewer", workspace=a).post("/agent-runtime/smoke")
    assert viewer.status_code == 403


async def test_the_smoke_check_without_a_worker_fails_after_30_seconds(api, workspaces):
    a, _ = workspaces
    started = time.monotonic()
    answer = await V1(api, "msp_admin", workspace=a).post("/agent-runtime/smoke")
    assert answer.status_code == 200, answer.text
    assert answer.json()["status"] == "failed" and 29 <= time.monotonic() - started < 45
    [check] = answer.json()["checks"]
    assert check["name"] == "worker" and check["status"] == "failed" and "no worker" in check["detail"]
