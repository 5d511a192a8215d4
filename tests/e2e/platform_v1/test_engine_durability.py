"""The engine's "done when": real ``capstan worker`` processes (platform_v1 surface) killed with SIGKILL at the
worst moments, the API in this process, the fake agent node over real HTTP.

- An async execution whose worker is killed while it waits for its callback completes once when the callback
  arrives (a new worker takes the durable wait over).
- A sync execution whose worker dies mid-call is retried by another worker: the agent sees the same
  ``x-execution-id`` again, and the execution ends once.
- No secret value, input or output body appears in any workflow history (the histories are read).
"""

from __future__ import annotations

import asyncio
import base64
import json
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from capstan.temporal import WorkerSurfaceName
from tests.e2e.platform_v1.engine_world import WEBHOOK_SECRET, count_rows, deliver, execute, register_agent, settled
from tests.e2e.platform_v1.support import V1
from tests.fakes.agent_node import Answer
from tests.integration.workers import kill_worker, start_worker, stop_worker, worker_env

TOKEN = "agent-bearer-never-in-a-history"
INPUT_MARK = "input-mark-4b1d"
OUTPUT_MARK = "output-mark-9e2c"


def _env(settings, tmp_path: Path, name: str) -> dict[str, str]:
    return worker_env(settings, tmp_path / f"cache-{name}",
                      CAPSTAN_SECRETS_KEY=settings.secrets.key.get_secret_value(),
                      CAPSTAN_WORKER_SURFACES=WorkerSurfaceName.PLATFORM_V1)


def _worker(settings, tmp_path: Path, name: str):
    return start_worker(_env(settings, tmp_path, name), tmp_path / f"worker-{name}.log")


async def _secret_and_agent(api, workspace: str, agent_node, reasoners=None) -> V1:
    admin = V1(api, "msp_admin", workspace=workspace)
    assert (await admin.post("/workspace/secrets/agents.token", json={"value": TOKEN})).status_code == 201
    await register_agent(admin, agent_node.url, reasoners=reasoners)
    return admin


async def _waiting_for_callback(temporal_client, workflow_id: str) -> None:
    """Until the run's history has the agent call completed (its 202): the run waits on its callback timer."""
    async with asyncio.timeout(60):
        while True:
            history = await temporal_client.get_workflow_handle(workflow_id).fetch_history()
            completed = [event for event in history.events
                         if event.HasField("activity_task_completed_event_attributes")]
            if len(completed) >= 3:  # recorded queued, recorded running, the call
                return
            await asyncio.sleep(0.2)


async def test_a_callback_after_the_waiting_worker_was_killed_completes_the_execution_once(
        api, settings, workspaces, agent_node, tmp_path, db_engine, temporal_client):
    settings.platform.agentfield_webhook_secret = SecretStr(WEBHOOK_SECRET)
    a, _ = workspaces
    admin = await _secret_and_agent(api, a, agent_node)
    first = _worker(settings, tmp_path, "a")
    try:
        started = await execute(admin, "helper.later", {"mark": INPUT_MARK}, mode="async")
        assert started.status_code == 202, started.text
        execution_id = started.json()["id"]
        await asyncio.to_thread(agent_node.wait_for_calls, 1, 60)
        await _waiting_for_callback(temporal_client, started.json()["temporal"]["workflowId"])
    finally:
        kill_worker(first)
    second = _worker(settings, tmp_path, "b")
    try:
        delivered = await deliver(api, {"event": "execution.completed", "execution_id": execution_id,
                                        "result": {"mark": OUTPUT_MARK}}, delivery="after-the-crash")
        assert delivered.status_code == 200 and delivered.json()["status"] == "accepted", delivered.text
        done = await settled(admin, execution_id, "succeeded", timeout=60)
        again = await deliver(api, {"event": "execution.completed", "execution_id": execution_id,
                                    "result": {"mark": "other"}}, delivery="after-the-crash")
        assert again.json()["status"] == "duplicate"
    finally:
        stop_worker(second)
    assert (await admin.get(done["outputRef"].removeprefix("/api/v1"))).json() == {"mark": OUTPUT_MARK}
    assert len(agent_node.calls("later")) == 1
    assert await count_rows(db_engine, "platform_events", "topic = 'workflow.completed' AND subject_id = :id",
                            id=execution_id) == 1


async def test_a_sync_execution_whose_worker_dies_mid_call_is_retried_with_the_same_execution_id(
        api, settings, workspaces, agent_node, tmp_path, db_engine):
    a, _ = workspaces
    admin = await _secret_and_agent(api, a, agent_node)
    agent_node.script("echo", Answer(200, hold=True))  # the first call never answers; the next one does
    first = _worker(settings, tmp_path, "a")
    answer = asyncio.ensure_future(execute(admin, "helper.echo", {"mark": INPUT_MARK}, waitSeconds=60))
    try:
        await asyncio.to_thread(agent_node.wait_for_calls, 1, 60)
    finally:
        kill_worker(first)
    second = _worker(settings, tmp_path, "b")
    try:
        ran = await asyncio.wait_for(answer, 90)
    finally:
        stop_worker(second)
    assert ran.status_code == 200, ran.text
    record = ran.json()
    assert record["status"] == "succeeded" and record["result"] == {"echo": {"mark": INPUT_MARK}}
    calls = agent_node.calls("echo")
    assert len(calls) == 2
    assert {call.headers["x-execution-id"] for call in calls} == {record["id"]}
    assert all(call.headers["authorization"] == f"Bearer {TOKEN}" for call in calls)
    assert await count_rows(db_engine, "platform_events", "topic = 'workflow.completed' AND subject_id = :id",
                            id=record["id"]) == 1


def _decoded(value: Any) -> list[str]:
    """Every string of a history's JSON, with each payload's ``data`` decoded from base64."""
    found: list[str] = []
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "data" and isinstance(item, str):
                try:
                    found.append(base64.b64decode(item).decode(errors="replace"))
                except ValueError:
                    found.append(item)
            else:
                found += _decoded(item)
    elif isinstance(value, list):
        for item in value:
            found += _decoded(item)
    elif isinstance(value, str):
        found.append(value)
    return found


async def test_no_secret_input_or_output_is_in_any_workflow_history(api, worker, settings, workspaces, agent_node,
                                                                     temporal_client):
    settings.platform.agentfield_webhook_secret = SecretStr(WEBHOOK_SECRET)
    a, _ = workspaces
    admin = await _secret_and_agent(api, a, agent_node)
    ok = (await execute(admin, "helper.echo", {"mark": INPUT_MARK, "say": OUTPUT_MARK})).json()
    rejected = (await execute(admin, "helper.reject", {"mark": INPUT_MARK})).json()
    later = (await execute(admin, "helper.later", {"mark": INPUT_MARK}, mode="async")).json()
    await settled(admin, later["id"], "running")
    await asyncio.to_thread(agent_node.wait_for_calls, 3)
    delivered = await deliver(api, {"event": "execution.completed", "execution_id": later["id"],
                                    "result": {"mark": OUTPUT_MARK}})
    assert delivered.json()["status"] == "accepted"
    await settled(admin, later["id"], "succeeded")
    retried = await admin.post(f"/workflow-executions/{rejected['id']}/retry")
    assert retried.status_code == 202
    await settled(admin, rejected["id"], "failed")
    assert ok["status"] == "succeeded"
    histories = 0
    for record in (ok, rejected, later):
        async for listed in temporal_client.list_workflows(f"WorkflowId = '{record['temporal']['workflowId']}'"):
            history = await temporal_client.get_workflow_handle(listed.id, run_id=listed.run_id).fetch_history()
            text = "\n".join(_decoded(json.loads(history.to_json())))
            histories += 1
            assert record["id"] in text and "art_" in text  # ids are there
            for secret_or_body in (TOKEN, INPUT_MARK, OUTPUT_MARK, WEBHOOK_SECRET):
                assert secret_or_body not in text, (listed.id, secret_or_body)
    assert histories == 4  # the retried execution has two runs
