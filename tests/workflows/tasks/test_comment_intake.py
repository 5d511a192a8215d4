"""A comment's run, started as the webhook starts it (the request and its delivery id in the workflow's
input, no Update): it records the comment as its first step with the ``enqueue`` write and then runs
like an enqueued run; a refusal Postgres decides there ends it quietly; it takes no ``enqueue`` Update;
a cancel while it records lets the write finish and stops the run."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowFailureError, WorkflowHandle, WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.common.records import RECORD_REJECTED_ERROR
from models.tasks.status import TaskStatus
from models.tasks.workflow_io import ActivityName, UpdateName, WorkflowName
from tests.workflows.tasks.scenarios import refusal_of, task_run, tasks_worker
from tests.workflows.tasks.stubs import EXECUTION_ID, TaskStubs, comment_request, intake_input
from tests.workflows.tasks.test_coding_task import STEPS_BEFORE_THE_RUNNER


async def test_a_comments_run_records_it_first_then_runs_like_an_enqueued_one(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs, intake_input()) as run:
        await run.report()
        assert await run.result() == "success"
        started = (await run.handle.describe()).start_time

    assert stubs.calls == [*STEPS_BEFORE_THE_RUNNER, ActivityName.RUN_RUNNER_PROCESS, ActivityName.OPEN_PULL_REQUEST]
    [record] = stubs.enqueued
    assert (record.execution_id, record.delivery_id) == (EXECUTION_ID, "delivery-1")
    assert record.request == comment_request().request
    assert record.accepted_at is not None and abs((record.accepted_at - started).total_seconds()) < 1
    assert stubs.statuses == [TaskStatus.RUNNING, TaskStatus.SUCCESS]
    assert stubs.announced == ["queued", "running", "success"]


@pytest.mark.parametrize("refusal", ["already_running", "duplicate_request"])
async def test_a_refusal_postgres_decides_ends_the_run_quietly(workflow_env, refusal):
    stubs = TaskStubs(refuse=refusal)
    async with task_run(workflow_env.client, stubs, intake_input()) as run:
        assert await run.result() == "not_enqueued"  # completed, not failed
    assert stubs.calls == [ActivityName.RECORD_ENQUEUE]  # no GitHub call
    assert stubs.transitions == [] and stubs.announced == []


async def test_data_postgres_refuses_fails_the_run_saying_why(workflow_env):
    stubs = TaskStubs(refuse=RECORD_REJECTED_ERROR)
    async with task_run(workflow_env.client, stubs, intake_input()) as run:
        with pytest.raises(WorkflowFailureError) as failed:
            await run.result()
    assert isinstance(failed.value.cause, ApplicationError) and failed.value.cause.type == RECORD_REJECTED_ERROR
    assert stubs.calls == [ActivityName.RECORD_ENQUEUE] and stubs.announced == []


async def test_a_comments_run_takes_no_enqueue_update(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs, intake_input()) as run:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await run.handle.execute_update(UpdateName.ENQUEUE, comment_request(comment_id=5002))
        assert refusal_of(refused.value).type == "already_enqueued"
        await run.report()
        assert await run.result() == "success"
    assert len(stubs.enqueued) == 1


async def _seen_by_the_workflow(handle: WorkflowHandle) -> None:
    """Until a workflow task completed after the cancel request: the workflow code has the cancel."""
    while True:
        kinds = [event.event_type async for event in handle.fetch_history_events()]
        requested = kinds.index(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED) \
            if EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCEL_REQUESTED in kinds else None
        if requested is not None and EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED in kinds[requested:]:
            return
        await asyncio.sleep(0.1)


async def test_a_cancel_while_the_comment_is_recorded_lets_the_write_finish_then_stops_the_run(workflow_env):
    """The write outlasts a workflow task (a slow Postgres), so the cancel reaches the workflow during it:
    cancelling the write could leave a ``queued`` execution no run works on."""
    stubs = TaskStubs(hold_enqueue=asyncio.Event())
    client = workflow_env.client
    async with tasks_worker(client, stubs) as queue:
        handle = await client.start_workflow(WorkflowName.CODING_TASK, intake_input(), id=f"{queue}:task",
                                             task_queue=queue, task_timeout=timedelta(seconds=1), result_type=str)
        await asyncio.wait_for(stubs.enqueue_recording.wait(), 30)
        await handle.cancel()  # the operator, in the Web UI
        await asyncio.wait_for(_seen_by_the_workflow(handle), 30)
        stubs.hold_enqueue.set()
        assert await asyncio.wait_for(handle.result(), 30) == "stopped"
    assert len(stubs.enqueued) == 1
    assert stubs.statuses == [TaskStatus.STOPPED] and stubs.announced == ["stopped"]
    assert ActivityName.RUN_RUNNER_PROCESS not in stubs.calls
