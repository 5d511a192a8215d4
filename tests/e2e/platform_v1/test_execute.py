"""``POST /execute/{agent}.{reasoner}`` against a real worker, Temporal and Postgres, and a fake agent node
over real HTTP: what the agent receives, what the record, its artifacts and its event say, the refusals
that write nothing, and an ``Idempotency-Key`` sent again never calling the agent twice."""

from __future__ import annotations

import asyncio
import json
import uuid

from tests.e2e.platform_v1.engine_world import (
    count_rows,
    execute,
    register_agent,
    settled,
)
from tests.e2e.platform_v1.support import V1
from tests.fakes.agent_node import Answer


async def test_a_sync_execute_calls_the_agent_and_answers_its_output(api, worker, workspaces, agent_node,
                                                                      db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a, sub="olive")
    secret = await V1(api, "integration_admin", workspace=a).post("/workspace/secrets/agents.token",
                                                                  json={"value": "agent-bearer-s3cret"})
    assert secret.status_code == 201, secret.text
    await register_agent(ops, agent_node.url)
    ran = await execute(ops, "helper.echo", {"question": "disk usage?"},
                        headers={"x-correlation-id": "corr-execute-1"})
    assert ran.status_code == 200, ran.text
    record = ran.json()
    assert record["status"] == "succeeded" and record["result"] == {"echo": {"question": "disk usage?"}}
    assert record["type"] == "agent" and record["target"] == "helper.echo" and record["mode"] == "sync"
    assert (record["agentId"], record["reasoner"], record["retryCount"], record["failureCode"]) == (
        "helper", "echo", 0, None)
    assert record["createdBy"] == "olive" and record["correlationId"] == "corr-execute-1"
    assert record["id"].startswith("wex_") and len(record["id"]) == 36
    assert isinstance(record["durationMs"], int) and record["startedAt"] and record["completedAt"]
    assert a in record["temporal"]["workflowId"] and record["temporal"]["runId"]

    [call] = agent_node.calls("echo")
    assert call.json == {"question": "disk usage?"}
    assert call.headers["x-execution-id"] == record["id"] and call.headers["x-workspace-id"] == a
    assert call.headers["x-correlation-id"] == "corr-execute-1" and call.headers["x-attempt"] == "1"
    assert call.headers["authorization"] == "Bearer agent-bearer-s3cret"
    assert call.headers["content-type"] == "application/json"

    for ref, expected in ((record["inputRef"], {"question": "disk usage?"}),
                          (record["outputRef"], {"echo": {"question": "disk usage?"}})):
        got = await ops.get(ref.removeprefix("/api/v1"))
        assert got.status_code == 200 and got.json() == expected, got.text
        assert got.headers["content-type"] == "application/json" and got.headers["etag"].startswith('"')
        again = await ops.get(ref.removeprefix("/api/v1"), headers={"if-none-match": got.headers["etag"]})
        assert again.status_code == 304
    evidence = (await ops.get(record["evidenceRef"].removeprefix("/api/v1"))).json()
    assert evidence["executionId"] == record["id"] and evidence["target"] == "helper.echo"
    assert evidence["agent"] == {"id": "helper", "baseUrl": agent_node.url, "version": "1.0.0"}
    assert [(t["attempt"], t["httpStatus"], t["error"]) for t in evidence["attempts"]] == [(1, 200, None)]
    assert evidence["callback"] is None and evidence["temporal"]["runId"] == record["temporal"]["runId"]
    assert "agent-bearer-s3cret" not in json.dumps(evidence)

    events = await count_rows(db_engine, "platform_events", "topic = 'workflow.completed' AND subject_id = :id",
                              id=record["id"])
    assert events == 1
    assert (await ops.get(f"/workflow-executions/{record['id']}")).json()["status"] == "succeeded"


async def test_an_async_execute_answers_202_with_the_record_and_its_location(api, worker, workspaces, agent_node):
    a, _ = workspaces
    ops = V1(api, "automation_operator", workspace=a)
    await register_agent(ops, agent_node.url)
    started = await execute(ops, "helper.echo", mode="async")
    assert started.status_code == 202, started.text
    record = started.json()
    assert started.headers["location"] == f"/api/v1/workflow-executions/{record['id']}"
    assert record["status"] in ("queued", "running") and record["mode"] == "async" and "result" not in record
    done = await settled(ops, record["id"], "succeeded")
    assert done["outputRef"] and done["failureCode"] is None


async def test_a_sync_execute_not_finished_in_time_answers_202(api, worker, workspaces, agent_node):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    await register_agent(ops, agent_node.url)
    started = await execute(ops, "helper.hold", waitSeconds=1)
    assert started.status_code == 202, started.text
    assert started.json()["status"] == "running" and started.headers["location"].endswith(started.json()["id"])
    agent_node.release()
    await settled(ops, started.json()["id"], "succeeded")


async def test_a_replayed_key_answers_again_without_calling_the_agent(api, worker, workspaces, agent_node):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    await register_agent(ops, agent_node.url)
    key = {"Idempotency-Key": str(uuid.uuid4())}
    first = await execute(ops, "helper.echo", {"n": 1}, headers=key)
    again = await execute(ops, "helper.echo", {"n": 1}, headers=key)
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert len(agent_node.calls("echo")) == 1


async def test_refusals_write_nothing(api, worker, workspaces, agent_node, settings, db_engine):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    await register_agent(ops, agent_node.url)
    refusals = [
        ("helper", {"input": {}}, 400, "invalid_target"),
        ("helper.echo.more", {"input": {}}, 400, "invalid_target"),
        ("Helper.echo", {"input": {}}, 400, "invalid_target"),
        ("nobody.echo", {"input": {}}, 404, "agent_not_found"),
        ("helper.nothing", {"input": {}}, 404, "reasoner_not_found"),
        ("helper.echo", {}, 400, "validation_error"),
        ("helper.echo", {"input": []}, 400, "validation_error"),
        ("helper.echo", {"input": {}, "extra": 1}, 400, "validation_error"),
        ("helper.echo", {"input": {}, "mode": "later"}, 400, "validation_error"),
        ("helper.echo", {"input": {}, "waitSeconds": 0}, 400, "validation_error"),
        ("helper.echo", {"input": {}, "waitSeconds": 61}, 400, "validation_error"),
        ("helper.echo", {"input": {}, "mode": "async", "waitSeconds": 5}, 400, "validation_error"),
    ]
    for target, body, status, error in refusals:
        refused = await ops.post(f"/execute/{target}", json=body)
        assert (refused.status_code, refused.json()["error"]) == (status, error), (target, body, refused.text)
    settings.platform.agent_stale_seconds = 0.001
    stale = await execute(ops, "helper.echo")
    assert stale.status_code == 503 and stale.json()["error"] == "agent_unavailable", stale.text
    assert stale.headers["retry-after"] == "5"
    assert await count_rows(db_engine, "platform_executions") == 0
    assert await count_rows(db_engine, "platform_artifacts") == 0
    assert await count_rows(db_engine, "platform_events", "topic = 'workflow.completed'") == 0
    assert agent_node.calls() == []


async def test_each_answer_of_the_agent_ends_the_execution_as_the_contract_says(api, worker, workspaces, agent_node):
    a, _ = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    reasoners = [{"id": name} for name in ("reject", "text", "huge", "down", "busy")] + [
        {"id": "slow", "timeoutSeconds": 1}]
    await register_agent(ops, agent_node.url, reasoners=reasoners)
    agent_node.script("text", Answer(200, body=b"<html>not json</html>"))
    agent_node.script("huge", Answer(200, body=b'"' + b"x" * (1024 * 1024) + b'"'))
    agent_node.script("down", Answer(503), Answer(502), Answer(500))
    agent_node.script("busy", Answer(429), Answer(429))
    agent_node.script("slow", Answer(200, hold=True))
    expected = {"reject": ("failed", "agent_rejected", 1), "text": ("failed", "invalid_agent_response", 1),
                "huge": ("failed", "invalid_agent_response", 1), "down": ("failed", "agent_unavailable", 3),
                "busy": ("succeeded", None, 3), "slow": ("failed", "agent_timeout", 1)}
    answers = await asyncio.gather(*(execute(ops, f"helper.{name}") for name in expected))
    for (name, (status, code, tries)), answer in zip(expected.items(), answers, strict=True):
        assert answer.status_code == 200, (name, answer.text)
        record = answer.json()
        assert (record["status"], record["failureCode"]) == (status, code), (name, record)
        assert record["result"] == ({"echo": {"question": "ping"}} if status == "succeeded" else None), name
        calls = agent_node.calls(name)
        assert len(calls) == tries, (name, calls)
        assert [call.headers["x-attempt"] for call in calls] == [str(n) for n in range(1, tries + 1)], name
        assert {call.headers["x-execution-id"] for call in calls} == {record["id"]}, name
        evidence = (await ops.get(record["evidenceRef"].removeprefix("/api/v1"))).json()
        assert [attempt["attempt"] for attempt in evidence["attempts"]] == list(range(1, tries + 1)), name
    assert "authorization" not in agent_node.calls("reject")[0].headers  # no agents.token secret set


async def test_an_artifact_is_the_workspace_s_own_and_gone_after_its_retention(api, worker, workspaces, agent_node,
                                                                              settings):
    a, b = workspaces
    ops = V1(api, "ops_engineer", workspace=a)
    await register_agent(ops, agent_node.url)
    record = (await execute(ops, "helper.echo")).json()
    path = record["outputRef"].removeprefix("/api/v1")
    assert (await V1(api, "viewer", workspace=a).get(path)).status_code == 200
    for other in (V1(api, "msp_admin", workspace=b).get(path), ops.get("/artifacts/art_" + "0" * 32),
                  ops.get("/artifacts/not-an-id")):
        answer = await other
        assert (answer.status_code, answer.json()["error"]) == (404, "not_found"), answer.text
    assert (await V1(api, "billing", workspace=a).get(path)).status_code == 403
    settings.api.public_url = "https://capstan.example.com"
    absolute = (await ops.get(f"/workflow-executions/{record['id']}")).json()
    assert absolute["outputRef"] == f"https://capstan.example.com{record['outputRef']}"
    settings.platform.artifact_retention_days = 1e-9  # every artifact is older than that
    gone = await ops.get(path)
    assert (gone.status_code, gone.json()["error"]) == (410, "gone")
