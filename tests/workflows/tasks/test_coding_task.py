"""``CodingTaskWorkflow`` with stub activities: the order of its steps, every way a run ends, and that
the runner is destroyed before a stop or a timeout is recorded."""

from __future__ import annotations

from models.tasks.status import FailureStage, RunnerKind, TaskStatus
from models.tasks.workflow_io import ActivityName, RunnerResult
from tests.workflows.tasks.scenarios import SUCCESS, task_run
from tests.workflows.tasks.stubs import TaskStubs, task_input

STEPS_BEFORE_THE_RUNNER = [ActivityName.LOAD_EXECUTION, ActivityName.REACT_TO_COMMENT, ActivityName.MINT_GITHUB_TOKEN,
                           ActivityName.READ_AGENTS_MD, ActivityName.CHECK_READINESS]


def last(stubs: TaskStubs):
    return stubs.transitions[-1]


async def test_a_reported_success_opens_the_pr_and_records_each_transition(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs) as run:
        await run.report()
        assert await run.result() == "success"

    assert stubs.calls == [*STEPS_BEFORE_THE_RUNNER, ActivityName.RUN_RUNNER_PROCESS, ActivityName.OPEN_PULL_REQUEST]
    assert stubs.statuses == [TaskStatus.RUNNING, TaskStatus.SUCCESS]  # queued was recorded by the API
    assert stubs.announced == ["queued", "running", "success"]
    done = last(stubs)
    assert done.pr_url == "https://github.test/acme/widgets/pull/7" and done.pr_number == 7
    assert done.summary == ("✅ Capstan completed this task. PR: https://github.test/acme/widgets/pull/7\n\n"
                            "Agent completed successfully.")
    assert done.commit_hash == "abc1234" and done.result.callback_attempt == 2


async def test_the_first_read_waits_for_the_apis_commit(workflow_env):
    stubs = TaskStubs(load_misses=2)
    async with task_run(workflow_env.client, stubs) as run:
        await run.report()
        assert await run.result() == "success"
    assert stubs.calls[:3] == [ActivityName.LOAD_EXECUTION] * 3
    assert stubs.calls[3:len(STEPS_BEFORE_THE_RUNNER) + 2] == STEPS_BEFORE_THE_RUNNER[1:]


async def test_only_the_first_result_counts(workflow_env):
    stubs = TaskStubs()
    async with task_run(workflow_env.client, stubs) as run:
        await run.report(RunnerResult(status=TaskStatus.FAILED, error="cannot reach the model"))
        await run.handle.signal("complete", SUCCESS)
        assert await run.result() == "failed"
    assert last(stubs).failure_stage == FailureStage.AGENT
    assert last(stubs).summary == "❌ Capstan failed: cannot reach the model"
    assert ActivityName.OPEN_PULL_REQUEST not in stubs.calls


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


async def test_a_stop_cancels_the_runner_before_stopped_is_recorded(workflow_env):
    stubs = TaskStubs(runner="hangs")
    cancelled_when_recorded: list[bool] = []
    stubs.on_transition = lambda: cancelled_when_recorded.append(stubs.runner_cancelled.is_set())

    async with task_run(workflow_env.client, stubs) as run:
        await stubs.runner_started.wait()
        await run.handle.cancel()
        assert await run.result() == "stopped"
    assert cancelled_when_recorded[-1] is True
    assert (last(stubs).status, last(stubs).summary) == (TaskStatus.STOPPED, "Stopped by user")
    assert stubs.announced[-1] == "stopped"


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
        await run.handle.cancel()
        assert await run.result() == "stopped"
    assert stopped.calls[-1] == f"{ActivityName.DESTROY_RUNNER}:machine-1"

