"""``AgentExecutionWorkflow`` with stub activities on a Temporal dev server: how each answer of the agent ends
the execution, the register Update's wait and its validator, a callback taken once, the callback timer, a
cancel, and a run whose record Postgres refused ending quietly."""

from __future__ import annotations

import asyncio
from collections import deque

import pytest
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError

from models.platform_v1.workflow_io import (
    ALREADY_ENDED,
    INVALID_TRANSITION,
    CallOutcome,
    Registration,
    SmokeInput,
    SmokeResult,
    UpdateName,
    WorkflowName,
)
from tests.workflows.platform_v1.execution_scenarios import (
    StubActivities,
    _until,
    callback,
    execution_input,
    register,
    stub_worker,
)
from workflows.platform_v1.agent_execution import NOT_REGISTERED


def _refusal(error: WorkflowUpdateFailedError) -> ApplicationError:
    cause = error.cause
    while cause is not None and not isinstance(cause, ApplicationError):
        cause = cause.cause
    assert cause is not None, error
    return cause


async def test_an_output_succeeds_and_the_register_update_waits_for_the_end(workflow_env):
    stubs = StubActivities()
    async with stub_worker(workflow_env.client, stubs) as queue:
        handle, registered = await register(workflow_env.client, queue, execution_input(), wait=30)
        assert registered.ended and registered.status == "succeeded"
        assert await handle.result() == "succeeded"
    [ended] = stubs.ended
    assert (ended.status, ended.failure_code, ended.output_artifact_id) == ("succeeded", None, "art_" + "1" * 32)
    assert [call.attempt for call in stubs.calls] == [1] and len(stubs.running) == 1


@pytest.mark.parametrize(("outcomes", "status", "code", "tries"), [
    ([CallOutcome.REJECTED], "failed", "agent_rejected", 1),
    ([CallOutcome.TIMEOUT], "failed", "agent_timeout", 1),
    ([CallOutcome.INVALID], "failed", "invalid_agent_response", 1),
    ([CallOutcome.UNAVAILABLE] * 2, "failed", "agent_unavailable", 2),
    ([CallOutcome.UNAVAILABLE, CallOutcome.OUTPUT], "succeeded", None, 2),
], ids=["rejected", "timeout", "invalid", "unavailable-every-try", "unavailable-then-output"])
async def test_each_answer_ends_the_execution_as_the_contract_says(workflow_env, outcomes, status, code, tries):
    stubs = StubActivities(outcomes=deque(outcomes))
    async with stub_worker(workflow_env.client, stubs) as queue:
        handle, _ = await register(workflow_env.client, queue, execution_input(max_attempts=2))
        assert await handle.result() == status
    [ended] = stubs.ended
    assert (ended.status, ended.failure_code) == (status, code)
    assert [attempt.attempt for attempt in ended.attempts] == list(range(1, tries + 1))
    assert [call.attempt for call in stubs.calls] == list(range(1, tries + 1))


async def test_a_202_waits_for_one_callback_and_refuses_a_second(workflow_env):
    # The ending's write is held, so the second callback meets the run still open (not a closed workflow).
    stubs = StubActivities(outcomes=deque([CallOutcome.ACCEPTED]), ending_gate=asyncio.Event())
    async with stub_worker(workflow_env.client, stubs) as queue:
        handle, registered = await register(workflow_env.client, queue, execution_input())
        assert not registered.ended
        await _until(lambda: len(stubs.calls) == 1)
        answer = await handle.execute_update(UpdateName.CALLBACK, callback(completed=False), result_type=dict)
        assert answer["status"] == "accepted"
        with pytest.raises(WorkflowUpdateFailedError) as second:
            await handle.execute_update(UpdateName.CALLBACK, callback(), result_type=dict)
        assert _refusal(second.value).type == ALREADY_ENDED
        assert stubs.ending_gate is not None
        stubs.ending_gate.set()
        assert await handle.result() == "failed"
    [ended] = stubs.ended
    assert (ended.failure_code, ended.failure_message) == ("agent_failed", "disk full")
    assert ended.callback is not None and ended.callback.delivery_id == "dlv-1"


async def test_no_callback_within_its_timer_is_agent_timeout(workflow_env):
    stubs = StubActivities(outcomes=deque([CallOutcome.ACCEPTED]))
    async with stub_worker(workflow_env.client, stubs) as queue:
        handle, _ = await register(workflow_env.client, queue, execution_input(callback_timeout=1))
        assert await handle.result() == "failed"
    assert stubs.ended[0].failure_code == "agent_timeout"


async def test_a_register_from_another_request_is_refused_by_the_validator(workflow_env):
    stubs = StubActivities(outcomes=deque([CallOutcome.ACCEPTED]))
    async with stub_worker(workflow_env.client, stubs) as queue:
        run = execution_input(request="first")
        handle, _ = await register(workflow_env.client, queue, run)
        again = await handle.execute_update(UpdateName.REGISTER, Registration(request="first"), result_type=dict)
        assert again["status"] in ("queued", "running")
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await handle.execute_update(UpdateName.REGISTER, Registration(request="second"), result_type=dict)
        assert _refusal(refused.value).type == INVALID_TRANSITION
        await handle.execute_update(UpdateName.CALLBACK, callback(), result_type=dict)
        assert await handle.result() == "succeeded"
    assert len(stubs.queued) == 1 and len(stubs.ended) == 1


async def test_a_run_whose_record_was_refused_ends_quietly(workflow_env):
    stubs = StubActivities(refuse_queued=True)
    async with stub_worker(workflow_env.client, stubs) as queue:
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await register(workflow_env.client, queue, execution_input(retry_count=1))
        assert _refusal(refused.value).type == INVALID_TRANSITION
        assert _refusal(refused.value).details[0] == {"currentStatus": "running"}
        handle = workflow_env.client.get_workflow_handle(
            f"{queue}:{(await _only_workflow(workflow_env, queue))}")
        assert await handle.result() == NOT_REGISTERED
    assert stubs.calls == [] and stubs.ended == []


async def _only_workflow(workflow_env, queue: str) -> str:
    async for execution in workflow_env.client.list_workflows(f"TaskQueue = '{queue}'"):
        return execution.id.removeprefix(f"{queue}:")
    raise AssertionError("no workflow")


async def test_a_cancel_while_waiting_records_cancelled(workflow_env):
    stubs = StubActivities(outcomes=deque([CallOutcome.ACCEPTED]))
    async with stub_worker(workflow_env.client, stubs) as queue:
        handle, _ = await register(workflow_env.client, queue, execution_input())
        await _until(lambda: len(stubs.calls) == 1)
        await handle.cancel()
        await _until(lambda: len(stubs.ended) == 1)
        with pytest.raises(Exception):  # noqa: B017 - the run ends cancelled
            await asyncio.wait_for(handle.result(), 30)
    assert stubs.ended[0].status == "cancelled" and stubs.ended[0].failure_code is None


async def test_a_smoke_run_reports_its_checks_and_ends_its_record(workflow_env):
    stubs = StubActivities(outcomes=deque([CallOutcome.REJECTED]))
    async with stub_worker(workflow_env.client, stubs) as queue:
        run = execution_input()
        result = await workflow_env.client.execute_workflow(
            WorkflowName.PLATFORM_SMOKE, SmokeInput(execution_id=run.execution_id, workspace_id=run.workspace_id,
                                                    target=run.target, input_artifact_id=run.input_artifact_id),
            id=f"{queue}:smoke", task_queue=queue, result_type=SmokeResult)
    assert result.status == "failed"
    assert [(check.name, check.status) for check in result.checks] == [
        ("worker", "passed"), ("database", "passed"), ("agent", "failed")]
    [ended] = stubs.ended
    assert ended.status == "failed" and "agent" in (ended.failure_message or "")
    assert [call.attempt for call in stubs.calls] == [1]
