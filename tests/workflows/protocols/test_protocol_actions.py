"""Each protocol and step action of ``ProtocolRunWorkflow``: what it answers, which work it
starts, and what it leaves in the run's records. Stub activities, no Postgres, no git."""

from __future__ import annotations

import asyncio

import pytest
from temporalio.client import WorkflowExecutionStatus, WorkflowUpdateFailedError

from models.protocols.workflow_io import ActivityName, Update, UpdateErrorType
from models.protocols.workspace_io import BranchInput, PlanInput
from tests import factories as f
from tests.workflows.protocols.stubs import execution_failed, qa_failed

P = "0001-demo"


def test_every_activity_name_has_a_stub(stubs):
    """A workflow that calls an activity the stubs lack would wait for it forever here."""
    names = {getattr(ActivityName, name) for name in dir(ActivityName) if name.isupper()}
    assert {fn.__temporal_activity_definition.name for fn in stubs.activities} == names


# --- start (planning) ----------------------------------------------------------------------------

async def test_start_plans_the_run_and_creates_its_steps(harness, stubs):
    stubs.plan.steps = [f.new_step(0, step_name="00-setup.md"), f.new_step(1, step_name="01-build.md")]
    handle = await harness.start(f.run_input())

    answer = await harness.act(handle, Update.START)

    assert answer.message == "Planning enqueued" and answer.job["type"] == "plan_protocol_job"
    assert await harness.settle(handle) == "planned"
    assert stubs.calls_to(ActivityName.PLAN_PROTOCOL) == [
        PlanInput(git_url="https://github.com/acme/demo.git", base_branch="main", protocol_name=P)]
    assert [s.step_name for s in stubs.records.steps.values()] == ["00-setup.md", "01-build.md"]
    assert stubs.records.step_statuses() == ["pending", "pending"]
    assert stubs.records.event_types() == ["planning_started", "protocol_planned"]
    assert stubs.records.events[-1].message == f"Planned 2 steps from .protocols/{P} at bbbbbbbbbbbb"


async def test_planning_that_fails_blocks_the_run_and_says_why(harness, stubs):
    stubs.failures[ActivityName.PLAN_PROTOCOL] = "branch main not found"
    handle = await harness.start(f.run_input())

    await harness.act(handle, Update.START)

    assert await harness.settle(handle) == "blocked"
    assert stubs.records.protocol_status == "blocked"
    assert stubs.records.events[-1].event_type == "job_failed"
    assert "branch main not found" in stubs.records.events[-1].message


async def test_a_refused_action_changes_nothing(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("completed")))

    refused = await harness.refusal(handle, Update.START)

    assert refused.type == UpdateErrorType.CONFLICT
    assert refused.message == "cannot start a protocol run that is running"
    assert stubs.calls == [] and stubs.records.protocol_status == "running"


# --- adding and importing steps ------------------------------------------------------------------

async def test_add_steps_creates_them_and_refuses_a_taken_index(harness, stubs):
    handle = await harness.start(f.run_input(status="planned", steps=f.step_states("pending")))

    answer = await harness.act(handle, Update.ADD_STEPS, arg=[f.new_step(1, step_name="01-docs.md")])
    refused = await harness.refusal(handle, Update.ADD_STEPS, arg=[f.new_step(0)])

    assert answer.message == "1 step(s) created" and answer.step_id == 2
    assert [s.step_name for s in stubs.records.steps.values()] == ["00-step.md", "01-docs.md"]
    assert stubs.records.events[-1].message == "Step 1 01-docs.md created"
    assert (refused.type, refused.message) == (UpdateErrorType.CONFLICT, "step_index 0 already exists in this "
                                                                         "protocol run")


async def test_import_steps_plans_the_run_from_the_imported_steps(harness, stubs):
    handle = await harness.start(f.run_input(status="pending"))

    answer = await harness.act(handle, Update.IMPORT_STEPS, arg=[f.new_step(0), f.new_step(1)])

    assert answer.job["type"] == "codemachine_import_job"
    assert await harness.settle(handle) == "planned"
    assert stubs.records.step_statuses() == ["pending", "pending"]
    assert stubs.records.event_types() == ["codemachine_import_enqueued", "codemachine_imported"]


# --- pause and resume ----------------------------------------------------------------------------

async def test_pause_holds_queued_work_until_resume(harness, stubs):
    step = f.step_state(1, status="pending")
    handle = await harness.start(f.run_input(status="running", steps=[step]))

    assert (await harness.act(handle, Update.PAUSE)).message == "Protocol paused"
    queued = await harness.act(handle, Update.STEP_RUN_QA, step_id=step.id)

    assert queued.job["type"] == "run_quality_job"
    assert await harness.settle(handle) == "paused"
    assert stubs.calls_to(ActivityName.RUN_QA) == []

    assert (await harness.act(handle, Update.RESUME)).message == "Protocol resumed"
    assert await harness.settle(handle) == "completed"
    assert [r.step_id for r in stubs.calls_to(ActivityName.RUN_QA)] == [step.id]
    assert stubs.records.event_types() == ["protocol_paused", "qa_requested", "protocol_resumed", "qa_passed",
                                           "protocol_completed"]


async def test_resume_is_refused_unless_the_run_is_paused(harness, stubs):
    handle = await harness.start(f.run_input(status="planned"))

    refused = await harness.refusal(handle, Update.RESUME)

    assert (refused.type, refused.message) == (UpdateErrorType.CONFLICT, "cannot resume a protocol run that is planned")


async def test_pause_is_refused_once_the_run_is_completed(harness, stubs):
    with pytest.raises(WorkflowUpdateFailedError) as refused:
        await harness.start_with_action(f.run_input(status="completed"), Update.PAUSE)

    assert refused.value.cause.type == UpdateErrorType.CONFLICT
    assert refused.value.cause.message == "cannot pause a protocol run that is completed"
    assert stubs.calls == []


# --- run_next_step, step run, retry_latest -------------------------------------------------------

async def test_run_next_step_executes_the_first_runnable_step(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("completed", "failed", "pending")))

    answer = await harness.act(handle, Update.RUN_NEXT_STEP)

    assert answer.step_id == 2 and answer.job["type"] == "execute_step_job"
    assert await harness.settle(handle) == "running"
    [work] = stubs.calls_to(ActivityName.EXECUTE_STEP)
    assert (work.step_id, work.protocol_branch, work.protocol_root) == (2, P, f".protocols/{P}")
    assert stubs.records.step_statuses() == ["completed", "needs_qa", "pending"]
    assert stubs.records.steps[2].summary == "done"
    assert stubs.records.event_types() == ["step_started", "step_completed"]
    assert stubs.records.events[-1].message == "Step 01-step.md executed as cccccccccccc; needs QA"


async def test_run_next_step_without_a_runnable_step_is_not_found(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("completed", "needs_qa")))

    refused = await harness.refusal(handle, Update.RUN_NEXT_STEP)

    assert refused.type == UpdateErrorType.NOT_FOUND
    assert stubs.calls == []


async def test_a_failed_step_blocks_the_run_and_retry_latest_runs_it_again(harness, stubs):
    stubs.execute_results = [execution_failed("exit 1: compile error")]
    handle = await harness.start(f.run_input(status="planned", steps=f.step_states("pending", "pending")))

    await harness.act_and_settle(handle, Update.RUN_NEXT_STEP)

    assert stubs.records.protocol_status == "blocked"
    assert stubs.records.step_statuses() == ["failed", "pending"]
    assert stubs.records.events[-1].message == "Step 00-step.md: exit 1: compile error"

    answer = await harness.act(handle, Update.RETRY_LATEST)

    assert (answer.step_id, answer.message) == (1, "Step 00-step.md enqueued")
    assert await harness.settle(handle) == "running"
    first, second = stubs.calls_to(ActivityName.EXECUTE_STEP)
    assert first.step_id == second.step_id == 1 and first.execution_key != second.execution_key
    assert stubs.records.steps[1].retries == 1
    assert stubs.records.step_statuses() == ["needs_qa", "pending"]
    assert stubs.records.event_types() == ["step_started", "step_failed", "step_retried", "step_completed"]


async def test_step_run_runs_the_named_step(harness, stubs):
    handle = await harness.start(f.run_input(status="planned", steps=f.step_states("pending", "pending")))

    answer = await harness.act_and_settle(handle, Update.STEP_RUN, step_id=2)

    assert answer.message == "Step 01-step.md enqueued"
    assert [w.step_id for w in stubs.calls_to(ActivityName.EXECUTE_STEP)] == [2]
    assert stubs.records.step_statuses() == ["pending", "needs_qa"]


async def test_step_run_is_refused_for_a_completed_step_and_unknown_for_a_missing_one(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("completed")))

    completed = await harness.refusal(handle, Update.STEP_RUN, step_id=1)
    missing = await harness.refusal(handle, Update.STEP_RUN, step_id=99)

    assert (completed.type, completed.message) == (UpdateErrorType.CONFLICT, "cannot run step 1: it is completed")
    assert (missing.type, missing.message) == (UpdateErrorType.NOT_FOUND, "step 99 is not part of this protocol run")


async def test_auto_qa_after_execution_runs_qa_inline(harness, stubs):
    run = f.run_input(status="planned", steps=f.step_states("pending"), options=f.run_options(auto_qa_after_exec=True))
    handle = await harness.start(run)

    await harness.act(handle, Update.RUN_NEXT_STEP)

    assert await harness.settle(handle) == "completed"
    assert [name for name, _ in stubs.calls if name != ActivityName.RECORD_RUN_CHANGES] == [
        ActivityName.EXECUTE_STEP, ActivityName.RUN_QA]


# --- run_qa and approve --------------------------------------------------------------------------

async def test_qa_that_passes_completes_the_step(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("needs_qa", "pending")))

    answer = await harness.act_and_settle(handle, Update.STEP_RUN_QA, step_id=1)

    assert answer.message == "QA of step 00-step.md enqueued"
    assert stubs.records.step_statuses() == ["completed", "pending"]
    assert stubs.records.event_types() == ["qa_requested", "qa_passed"]


async def test_qa_that_fails_fails_the_step_and_blocks_the_run(harness, stubs):
    stubs.qa_results = [qa_failed("3 tests failed")]
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("needs_qa")))

    await harness.act(handle, Update.STEP_RUN_QA, step_id=1)

    assert await harness.settle(handle) == "blocked"
    assert stubs.records.step_statuses() == ["failed"]
    assert stubs.records.events[-1].message == "QA of 00-step.md failed: 3 tests failed"


async def test_approving_the_last_open_step_completes_the_protocol(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("completed", "needs_qa")))

    answer = await harness.act(handle, Update.STEP_APPROVE, step_id=2)

    assert answer.message == "Step 01-step.md approved"
    assert await harness.settle(handle) == "completed"
    assert stubs.records.protocol_status == "completed"
    assert stubs.records.event_types() == ["manual_approval", "protocol_completed"]


async def test_a_finished_run_keeps_its_workflow_open_and_takes_the_actions_its_status_allows(harness, stubs):
    """The run's workflow lives as long as the run: a completed run still opens its pull request and can be
    cancelled, in the same execution (an action on a closed workflow would need a second one)."""
    project = f.project_snapshot(forge_repository="acme/demo")
    handle = await harness.start(f.run_input(status="running", project=project, steps=f.step_states("needs_qa")))
    first_run = (await handle.describe()).run_id
    await harness.act(handle, Update.STEP_APPROVE, step_id=1)
    assert await harness.settle(handle) == "completed"

    refused = await harness.refusal(handle, Update.PAUSE)
    assert refused.type == UpdateErrorType.CONFLICT
    assert refused.message == "cannot pause a protocol run that is completed"
    assert (await harness.act_and_settle(handle, Update.OPEN_PR)).job["run_id"] == first_run
    assert (await harness.act(handle, Update.CANCEL)).message == "Protocol cancelled"
    assert await harness.settle(handle) == "cancelled"

    described = await handle.describe()
    assert (described.run_id, described.status) == (first_run, WorkflowExecutionStatus.RUNNING)
    assert stubs.records.event_types() == ["manual_approval", "protocol_completed", "open_pr_requested", "pr_opened",
                                           "protocol_cancelled"]


async def test_approving_a_cancelled_step_is_refused(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("cancelled", "pending")))

    refused = await harness.refusal(handle, Update.STEP_APPROVE, step_id=1)

    assert refused.type == UpdateErrorType.CONFLICT and stubs.calls == []


# --- open_pr -------------------------------------------------------------------------------------

async def test_open_pr_pushes_the_protocol_branch_and_opens_a_pull_request(harness, stubs):
    project = f.project_snapshot(forge_repository="acme/demo")
    handle = await harness.start(f.run_input(status="running", project=project, description="Add a feature",
                                             steps=f.step_states("completed", "pending")))

    answer = await harness.act_and_settle(handle, Update.OPEN_PR)

    assert answer.message == "Pull request enqueued" and answer.job["type"] == "open_pr_job"
    assert stubs.calls_to(ActivityName.ENSURE_PROTOCOL_BRANCH) == [
        BranchInput(git_url=project.git_url, base_branch="main", protocol_branch=P)]
    [request] = stubs.calls_to(ActivityName.OPEN_PULL_REQUEST)
    assert (request.forge, request.repository, request.head_branch, request.base_branch) == (
        "github", "acme/demo", P, "main")
    assert request.title == f"{P}: Add a feature"
    assert "- [x] 0. 00-step.md (completed)\n- [ ] 1. 01-step.md (pending)" in request.body
    assert stubs.records.events[-1].message == "Pull request opened: https://github.com/acme/demo/pull/7"


async def test_open_pr_without_a_known_forge_blocks_the_run(harness, stubs):
    project = f.project_snapshot(git_url="/srv/git/demo.git")
    handle = await harness.start(f.run_input(status="running", project=project, steps=f.step_states("completed")))

    await harness.act(handle, Update.OPEN_PR)

    assert await harness.settle(handle) == "blocked"
    assert stubs.calls_to(ActivityName.OPEN_PULL_REQUEST) == []
    assert stubs.records.events[-1].event_type == "open_pr_failed"


async def test_open_pr_that_the_forge_refuses_blocks_the_run_with_its_reason(harness, stubs):
    stubs.failures[ActivityName.OPEN_PULL_REQUEST] = "GitHub answered 422: no commits between main and 0001-demo"
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("completed")))

    await harness.act(handle, Update.OPEN_PR)

    assert await harness.settle(handle) == "blocked"
    assert stubs.records.events[-1].message == ("Pull request not opened: GitHub answered 422: no commits between "
                                                "main and 0001-demo")


# --- cancel --------------------------------------------------------------------------------------

async def test_cancel_stops_the_running_step_and_closes_the_run(harness, stubs):
    stubs.hold_execution()
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("completed", "pending", "pending")))
    await harness.act(handle, Update.RUN_NEXT_STEP)
    await asyncio.wait_for(stubs.execution_started.wait(), 30)

    answer = await harness.act(handle, Update.CANCEL)

    assert answer.message == "Protocol cancelled"
    assert await harness.settle(handle) == "cancelled"
    await asyncio.wait_for(stubs.execution_cancelled.wait(), 30)
    assert stubs.records.protocol_status == "cancelled"
    assert stubs.records.step_statuses() == ["completed", "cancelled", "cancelled"]
    [cancelled] = stubs.records.events_of("protocol_cancelled")
    assert cancelled.message == "Protocol cancelled; 2 steps cancelled"
    assert cancelled.metadata == {"cancelled_steps": [2, 3]}
    assert "step_completed" not in stubs.records.event_types()


async def test_cancelling_a_cancelled_run_answers_and_writes_nothing(harness, stubs):
    _, answer = await harness.start_with_action(f.run_input(status="cancelled"), Update.CANCEL)

    assert answer.message == "Protocol already cancelled"
    assert stubs.calls == []
