"""``CodingTaskWorkflow`` with stub activities, driven as the API drives it: the ``enqueue`` Update and
its refusals, the order of its steps, every way a run ends, the ``complete`` and ``stop`` Updates and
their validators, that the runner is destroyed before a stop or a timeout is recorded; and the manual
status's ``TaskStatusChangeWorkflow``."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowUpdateFailedError

from models.tasks.status import FailureStage, RunnerKind, TaskStatus
from models.tasks.workflow_io import ActivityName, RunnerResult, UpdateName
from tests.workflows.tasks.scenarios import SUCCESS, refusal_of, set_status, task_run
from tests.workflows.tasks.stubs import EXECUTION_ID, TaskStubs, dashboard_request, manual_change, task_input

STEPS_BEFORE_THE_RUNNER = [ActivityName.RECORD_ENQUEUE, ActivityName.REACT_TO_COMMENT,
                           ActivityName.MINT_GITHUB_TOKEN, ActivityName.READ_AGENTS_MD, ActivityName.CHECK_READINESS]


def last(stubs: TaskStubs):
    return stubs.transitions[-1]


async def test_a_reported_success_opens_the_pr_and_records_each_transition(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs) as run:
        await run.report()
        assert await run.result() == "success"

    assert stubs.calls == [*STEPS_BEFORE_THE_RUNNER, ActivityName.RUN_RUNNER_PROCESS, ActivityName.OPEN_PULL_REQUEST]
    assert stubs.statuses == [TaskStatus.RUNNING, TaskStatus.SUCCESS]  # queued: recorded by enqueue
    assert stubs.announced == ["queued", "running", "success"]
    done = last(stubs)
    assert done.pr_url == "https://github.test/acme/widgets/pull/7" and done.pr_number == 7
    assert done.summary == ("✅ Capstan completed this task. PR: https://github.test/acme/widgets/pull/7\n\n"
                            "Agent completed successfully.")
    assert done.commit_hash == "abc1234" and done.result.callback_attempt == 2


async def test_enqueue_answers_the_recorded_execution(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs) as run:
        assert run.recorded is not None and run.recorded.execution_id == EXECUTION_ID
        assert run.recorded.task_id == "acme/widgets#11" and run.recorded.branch == f"capstan/{EXECUTION_ID}"
        await run.report()
        assert await run.result() == "success"
    [record] = stubs.enqueued
    assert (record.execution_id, record.delivery_id, record.request.comment_id) == (EXECUTION_ID, "delivery-1", 5001)
    assert ActivityName.READ_TASK_REQUEST not in stubs.calls  # a comment brings the issue


async def test_a_dashboard_request_is_read_from_github_before_it_is_recorded(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs, order=dashboard_request()) as run:
        assert run.recorded is not None and run.recorded.task_id == "acme/widgets#12"
        await run.report()
        assert await run.result() == "success"
    assert stubs.calls[:2] == [ActivityName.READ_TASK_REQUEST, ActivityName.RECORD_ENQUEUE]
    assert ActivityName.REACT_TO_COMMENT not in stubs.calls  # no comment asked
    assert stubs.enqueued[0].request.issue_title == "Add a FAQ"


@pytest.mark.parametrize("refusal", ["already_running", "duplicate_request", "github_refused"])
async def test_a_refused_request_records_nothing_and_ends_the_run(workflow_env, refusal):
    stubs = TaskStubs(refuse=refusal)
    order = dashboard_request() if refusal == "github_refused" else None
    async with task_run(workflow_env.client, stubs, order=order) as run:
        assert run.recorded is None and run.refusal is not None and run.refusal.type == refusal
        assert await run.result() == "not_enqueued"
    assert stubs.transitions == [] and stubs.announced == []
    if refusal == "github_refused":
        assert run.refusal.details[0]["status"] == 404 and stubs.enqueued == []


async def test_only_the_first_result_counts(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs) as run:
        await run.report(RunnerResult(status=TaskStatus.FAILED, error="cannot reach the model"))
        with pytest.raises(WorkflowUpdateFailedError) as second:
            await run.handle.execute_update(UpdateName.COMPLETE, SUCCESS)
        assert refusal_of(second.value).type == "already_finished"
        assert await run.result() == "failed"
    assert last(stubs).failure_stage == FailureStage.AGENT
    assert last(stubs).summary == "❌ Capstan failed: cannot reach the model"
    assert ActivityName.OPEN_PULL_REQUEST not in stubs.calls
    [arrival] = stubs.arrivals
    assert arrival.execution_id == EXECUTION_ID


async def test_a_blocked_agent_fails_at_dispatch_without_a_runner(workflow_env):
    stubs = TaskStubs(blocked="Task blocked: missing Anthropic credentials.")
    async with task_run(workflow_env.client, stubs) as run:
        assert await run.result() == "failed"
    assert stubs.calls == STEPS_BEFORE_THE_RUNNER
    assert (last(stubs).failure_stage, last(stubs).summary) == (
        FailureStage.DISPATCH, "Task blocked: missing Anthropic credentials.")


async def test_the_watchdog_cancels_a_silent_runner_then_records_timed_out(workflow_env):
    stubs = TaskStubs(runner="hangs")
    async with task_run(workflow_env.client, stubs, task_input(watchdog_seconds=2)) as run:
        assert await run.result() == "timed_out"
    assert stubs.runner_cancelled.is_set(), "the runner was not cancelled"
    assert (last(stubs).status, last(stubs).failure_stage) == (TaskStatus.TIMED_OUT, FailureStage.AGENT)
    assert last(stubs).summary == "❌ Capstan failed: timeout after 2 seconds"
    assert last(stubs).error == "timeout after 2 seconds"


@pytest.mark.parametrize("how", ["stop_update", "workflow_cancelled"])
async def test_a_stop_cancels_the_runner_before_stopped_is_recorded(workflow_env, how):
    stubs = TaskStubs(runner="hangs")
    cancelled_when_recorded: list[bool] = []
    stubs.on_transition = lambda: cancelled_when_recorded.append(stubs.runner_cancelled.is_set())

    async with task_run(workflow_env.client, stubs) as run:
        await stubs.runner_started.wait()
        if how == "stop_update":
            assert await run.stop() == "stopped"  # answered once recorded
            assert stubs.statuses[-1] == TaskStatus.STOPPED
        else:  # the operator cancels the workflow in the Web UI
            await run.handle.cancel()
        assert await run.result() == "stopped"
    assert cancelled_when_recorded[-1] is True
    assert (last(stubs).status, last(stubs).summary) == (TaskStatus.STOPPED, "Stopped by user")
    assert stubs.announced[-1] == "stopped"


async def test_a_stop_while_the_run_records_how_it_ends_is_refused_with_that_status(workflow_env):
    stubs = TaskStubs()
    stubs.hold_final = asyncio.Event()
    async with task_run(workflow_env.client, stubs) as run:
        await run.report()
        await asyncio.wait_for(stubs.final_recording.wait(), 30)  # success decided, its write under way
        with pytest.raises(WorkflowUpdateFailedError) as refused:
            await run.handle.execute_update(UpdateName.STOP, result_type=str)
        stubs.hold_final.set()
        assert await run.result() == "success"
    assert refusal_of(refused.value).type == "not_running"
    assert refusal_of(refused.value).details[0] == {"status": "success"}
    assert stubs.statuses == [TaskStatus.RUNNING, TaskStatus.SUCCESS] and stubs.announced[-1] == "success"


async def test_the_manual_status_announces_then_records(workflow_env):
    stubs = TaskStubs()
    _, refusal = await set_status(workflow_env.client, stubs, manual_change(summary="Done by hand"))
    assert refusal is None
    assert stubs.calls == [ActivityName.ANNOUNCE_MANUAL_STATUS]
    assert [change.summary for change in stubs.manual] == ["Done by hand"]

    busy = TaskStubs(refuse="already_running")
    _, refusal = await set_status(workflow_env.client, busy)
    assert refusal is not None and refusal.type == "already_running" and busy.manual == []


async def test_a_runner_that_exits_without_a_result_fails_after_the_grace(workflow_env):
    stubs = TaskStubs(runner="exits_silently")
    async with task_run(workflow_env.client, stubs, task_input(result_grace_seconds=1)) as run:
        assert await run.result() == "failed"
    assert last(stubs).failure_stage == FailureStage.AGENT
    assert last(stubs).error == "runner exited with code 1 without a result: killed by the OOM killer"


async def test_a_pull_request_github_refuses_fails_at_pr(workflow_env):
    stubs = TaskStubs(pull_error="no pull request could be opened (main: No commits between main and x)")
    async with task_run(workflow_env.client, stubs) as run:
        await run.report()
        assert await run.result() == "failed"
    assert last(stubs).failure_stage == FailureStage.PR
    assert last(stubs).summary.startswith("Agent completed successfully.\n\nPR creation failed: ")


async def test_a_fly_machine_is_destroyed_after_its_result_and_on_stop(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs, task_input(runner=RunnerKind.FLY)) as run:
        await run.report()
        assert await run.result() == "success"
    assert stubs.calls[-2:] == [f"{ActivityName.DESTROY_RUNNER}:machine-1", ActivityName.OPEN_PULL_REQUEST]
    assert stubs.transitions[0].runner_ref == "machine-1"

    stopped = TaskStubs()
    async with task_run(workflow_env.client, stopped, task_input(runner=RunnerKind.FLY)) as run:
        await stopped.runner_started.wait()
        assert await run.stop() == "stopped"
        assert await run.result() == "stopped"
    assert stopped.calls[-1] == f"{ActivityName.DESTROY_RUNNER}:machine-1"

