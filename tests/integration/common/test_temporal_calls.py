"""api.common.temporal_calls against a real Temporal dev server: what a client of any surface sees
when Temporal, or a worker, is not there, and that a workflow is started only when it is not running."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.common import WorkflowIDReusePolicy
from temporalio.worker import Worker

from api.common.errors import Conflict, ServiceUnavailable
from api.common.temporal_calls import (
    WorkflowStart,
    signal_or_start,
    start_workflow_once,
    temporal_errors,
    temporal_unreachable,
    update_or_start,
)
from capstan.devstack.ports import free_port
from tests.integration.common.correlated_workflow import CorrelatedEcho, correlated_echo
from worker.main import SANDBOX


class Starts:
    """A start factory that counts how often the caller needed it."""

    def __init__(self, workflow_id: str) -> None:
        self.workflow_id = workflow_id
        # No worker polls this queue: the workflow is started but never runs a task.
        self.task_queue = f"nobody-{uuid.uuid4().hex[:8]}"
        self.calls = 0

    async def __call__(self) -> WorkflowStart:
        self.calls += 1
        return WorkflowStart("NoSuchWorkflow", {"n": 1}, {"id": self.workflow_id, "task_queue": self.task_queue})


@pytest.fixture
async def starts(temporal_client: Client) -> AsyncIterator[Starts]:
    factory = Starts(f"temporal-calls-{uuid.uuid4().hex[:12]}")
    yield factory
    if factory.calls:
        await temporal_client.get_workflow_handle(factory.workflow_id).terminate("test over")


@pytest.fixture
async def unreachable() -> Client:
    return await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)


async def signal_count(client: Client, workflow_id: str) -> int:
    events = [e async for e in client.get_workflow_handle(workflow_id).fetch_history_events()]
    return sum(e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED for e in events)


async def test_signal_starts_a_workflow_that_is_not_running_then_signals_the_running_one(temporal_client, starts):
    await signal_or_start(temporal_client, starts.workflow_id, "ci_report", [{"outcome": "success"}], starts)
    await signal_or_start(temporal_client, starts.workflow_id, "ci_report", [{"outcome": "failure"}], starts)
    assert starts.calls == 1  # the input was built once, for the start only
    assert await signal_count(temporal_client, starts.workflow_id) == 2
    description = await temporal_client.get_workflow_handle(starts.workflow_id).describe()
    assert description.status == WorkflowExecutionStatus.RUNNING and description.task_queue == starts.task_queue


async def test_starting_twice_keeps_one_execution(temporal_client, starts):
    start = await starts()
    await start_workflow_once(temporal_client, start)
    first = (await temporal_client.get_workflow_handle(starts.workflow_id).describe()).run_id
    await start_workflow_once(temporal_client, start)
    assert (await temporal_client.get_workflow_handle(starts.workflow_id).describe()).run_id == first


async def test_an_update_no_worker_takes_is_503_no_worker_with_retry_after(temporal_client, starts):
    with pytest.raises(ServiceUnavailable) as refused:
        await update_or_start(temporal_client, starts.workflow_id, "start", [], starts, timeout=1.0,
                              result_type=dict, rejections={})
    assert refused.value.code == "no_worker"
    assert refused.value.headers["Retry-After"].isdigit()
    assert starts.calls == 1  # update-with-start: the workflow is there for a worker to pick up later
    assert (await temporal_client.get_workflow_handle(starts.workflow_id).describe()).status \
        == WorkflowExecutionStatus.RUNNING


async def test_temporal_down_is_503_for_updates_signals_and_reads(unreachable, starts):
    assert await temporal_unreachable(unreachable)
    with pytest.raises(ServiceUnavailable) as update:
        await update_or_start(unreachable, starts.workflow_id, "start", [], starts, timeout=5.0, result_type=dict,
                              rejections={})
    with pytest.raises(ServiceUnavailable) as signal:
        await signal_or_start(unreachable, starts.workflow_id, "ci_report", [{}], starts,
                              unavailable_detail="recorded; send it again", retry_after=10)
    with pytest.raises(ServiceUnavailable) as read:
        async with temporal_errors(unreachable, "Temporal at nowhere"):
            await unreachable.get_workflow_handle(starts.workflow_id).describe()
    assert (update.value.code, update.value.headers) == ("service_unavailable", {"Retry-After": "5"})
    assert (signal.value.detail, signal.value.headers) == ("recorded; send it again", {"Retry-After": "10"})
    assert read.value.code == "temporal_unavailable"
    assert starts.calls == 0


async def test_a_connected_client_is_not_taken_for_a_missing_server(temporal_client):
    assert not await temporal_unreachable(temporal_client)


async def test_a_runtime_error_while_temporal_answers_is_no_503(temporal_client):
    """Only an unreachable server makes a ``RuntimeError`` a 503: a bug stays a bug (a 500, logged)."""
    with pytest.raises(RuntimeError, match="a bug"):
        async with temporal_errors(temporal_client, "Temporal at here"):
            raise RuntimeError("a bug")


async def test_a_workflow_that_finished_is_not_started_again_by_an_update_or_a_signal(temporal_client):
    """With ``ALLOW_DUPLICATE_FAILED_ONLY`` (a run's workflow: restart what was stopped by hand, never what
    finished), an action on a finished workflow is a 409 ``workflow_closed`` and leaves it the only execution."""
    queue = f"finished-{uuid.uuid4().hex[:8]}"
    workflow_id = f"{queue}-wf"
    async with Worker(temporal_client, task_queue=queue, workflows=[CorrelatedEcho], activities=[correlated_echo],
                      workflow_runner=SANDBOX):
        finished = await temporal_client.start_workflow("CorrelatedEcho", "a", id=workflow_id, task_queue=queue)
        await finished.execute_update("finish", "b")
        await finished.result()
    restarts = 0

    async def start() -> WorkflowStart:
        nonlocal restarts
        restarts += 1
        options = {"id": workflow_id, "task_queue": queue,
                   "id_reuse_policy": WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY}
        return WorkflowStart("CorrelatedEcho", "again", options)

    with pytest.raises(Conflict) as update:
        await update_or_start(temporal_client, workflow_id, "finish", ["c"], start, timeout=5.0, result_type=str,
                              rejections={}, closed_detail="run 7 is completed")
    with pytest.raises(Conflict) as signal:
        await signal_or_start(temporal_client, workflow_id, "ci_report", [{}], start)
    assert (update.value.code, update.value.detail) == ("workflow_closed", "run 7 is completed")
    assert signal.value.code == "workflow_closed" and restarts == 2  # asked, and refused by Temporal
    latest = await temporal_client.get_workflow_handle(workflow_id).describe()
    assert (latest.run_id, latest.status) == (finished.result_run_id, WorkflowExecutionStatus.COMPLETED)
