"""The webhook does not wait for a worker: GitHub gives up on a delivery after 10 s and does not send it
again by itself, so an accepted comment is durable once Temporal has its run's workflow (the request in
the workflow's input) and the answer comes at once; the run records itself when a worker comes, and
a comment (copies of its delivery, or under other delivery ids, before or after it ran) starts one run."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from datetime import datetime

from sqlalchemy import text
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.contrib.pydantic import pydantic_data_converter

from capstan.devstack.ports import free_port
from capstan.settings import Settings
from models.tasks.ids import comment_execution_id
from models.tasks.workflow_io import coding_task_workflow_id
from tests.e2e.tasks.support import LiveApi, deliver, github_world, run_result, task_path, tasks_queue
from worker.main import WorkerResources, serve_surfaces

TASK_ID = "acme/widgets#11"
#: GitHub abandons a delivery after 10 s; Capstan answers well within it.
ANSWER_WITHIN_SECONDS = 5.0


@contextlib.asynccontextmanager
async def tasks_worker(temporal: Client, settings: Settings) -> AsyncIterator[None]:
    """A worker that comes up late (the one of the ``worker`` fixture, started inside the test)."""
    resources = WorkerResources(settings, temporal=temporal)
    try:
        async with serve_surfaces(temporal, settings, resources):
            yield
    finally:
        await resources.close()


async def _rows(db_engine) -> dict[str, list]:
    async with db_engine.connect() as connection:
        return {"tasks": list((await connection.execute(text("SELECT id FROM coding_tasks"))).scalars()),
                "executions": list((await connection.execute(text(
                    "SELECT id FROM coding_task_executions"))).scalars()),
                "deliveries": list((await connection.execute(text(
                    "SELECT delivery_id FROM coding_task_deliveries"))).scalars())}


async def _timed_delivery(live_api, body: bytes, delivery: str) -> tuple[int, dict, float]:
    started = time.perf_counter()
    response = await asyncio.wait_for(deliver(live_api, body, delivery=delivery), 10)
    return response.status_code, response.json(), time.perf_counter() - started


async def test_a_comment_is_accepted_at_once_without_a_worker_and_runs_once_when_one_comes(
        live_api, fake_github, settings, temporal_client, db_engine, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    payload = fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo", user="alice")
    body = json.dumps(payload).encode()
    execution_id = comment_execution_id(payload["comment"]["id"])
    handle = temporal_client.get_workflow_handle(coding_task_workflow_id(tasks_queue(settings), execution_id))

    # No worker serves the tasks queue: two copies of one delivery at once, then the comment again under
    # another delivery id (the header is not signed).
    copies = await asyncio.gather(*(_timed_delivery(live_api, body, "delivery-1") for _ in range(2)))
    again = await _timed_delivery(live_api, body, "delivery-2")

    assert [(code, answer) for code, answer, _ in sorted(copies, key=lambda c: len(c[1]))] == [
        (202, {"status": "accepted", "taskId": TASK_ID}),
        (202, {"status": "accepted", "taskId": TASK_ID, "duplicate": True})]
    assert again[:2] == (202, {"status": "accepted", "taskId": TASK_ID, "duplicate": True})
    assert max(seconds for _, _, seconds in (*copies, again)) < ANSWER_WITHIN_SECONDS
    # Durable in Temporal, recorded by nobody yet: the run records itself as its first step.
    assert (await handle.describe()).status == WorkflowExecutionStatus.RUNNING
    assert await _rows(db_engine) == {"tasks": [], "executions": [], "deliveries": []}
    assert (await live_api.get(task_path(TASK_ID))).status_code == 404

    async with tasks_worker(temporal_client, settings):
        assert await run_result(temporal_client, settings, execution_id) == "success"
        after = await _timed_delivery(live_api, body, "delivery-3")  # the run has ended

    assert after[:2] == (202, {"status": "accepted", "taskId": TASK_ID, "duplicate": True})
    assert await _rows(db_engine) == {"tasks": [TASK_ID], "executions": [execution_id], "deliveries": ["delivery-1"]}
    [pull] = fake_github.pulls("acme", "widgets")
    assert pull.head == f"capstan/{execution_id}"
    assert fake_github.reactions("acme", "widgets", payload["comment"]["id"]) == ["eyes"]
    status = (await live_api.get(task_path(TASK_ID))).json()
    assert status["status"] == "success" and [e["executionId"] for e in status["executions"]] == [execution_id]
    # queuedAt is when the comment was accepted, not when a worker came.
    queued = datetime.fromisoformat(status["executions"][0]["queuedAt"].replace("Z", "+00:00"))
    assert abs((queued - (await handle.describe()).start_time).total_seconds()) < 1


async def test_with_temporal_unreachable_the_delivery_is_503_with_retry_after_and_nothing_is_recorded(
        live_api, fake_github, settings, temporal_client, db_engine, tmp_path):
    await github_world(live_api, fake_github, tmp_path)
    body = json.dumps(fake_github.comment_event("acme", "widgets", 11, "@capstan mock fix the typo",
                                                user="alice")).encode()
    nowhere = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True, data_converter=pydantic_data_converter)

    async with LiveApi(settings, nowhere, free_port()) as cut_off:
        started = time.perf_counter()
        refused = await deliver(cut_off, body, delivery="delivery-1")
        seconds = time.perf_counter() - started

    assert refused.status_code == 503, refused.text
    assert refused.json()["error"] == "service_unavailable" and refused.headers["Retry-After"] == "5"
    assert seconds < ANSWER_WITHIN_SECONDS
    assert await _rows(db_engine) == {"tasks": [], "executions": [], "deliveries": []}
    # Redelivered from GitHub once Temporal is back: accepted, not a duplicate.
    again = await deliver(live_api, body, delivery="delivery-1")
    assert (again.status_code, again.json()) == (202, {"status": "accepted", "taskId": TASK_ID})
