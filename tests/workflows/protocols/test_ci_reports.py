"""The ``ci_report`` signal: what a CI result or forge event does to a run (docs/api/webhooks.md,
"What an outcome does"), on ``ProtocolRunWorkflow`` with stub activities."""

from __future__ import annotations

from models.protocols.workflow_io import ActivityName, CiOutcome
from tests import factories as f


async def test_ci_success_completes_the_latest_step_and_the_run(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("completed", "needs_qa")))

    status = await harness.report_ci(handle, f.ci_report(CiOutcome.SUCCESS, status="success", delivery_id="d-1"))

    assert status == "completed"
    assert stubs.records.step_statuses() == ["completed", "completed"]
    succeeded = stubs.records.events_of("ci_succeeded")[0]
    assert (succeeded.step_run_id, succeeded.message) == (2, "CI passed for step 01-step.md")
    assert succeeded.metadata["delivery_id"] == "d-1" and succeeded.metadata["source"] == "github"
    assert stubs.records.event_types()[-1] == "protocol_completed"


async def test_ci_success_with_auto_qa_on_ci_runs_qa_first(harness, stubs):
    run = f.run_input(status="running", steps=f.step_states("running"), options=f.run_options(auto_qa_on_ci=True))
    handle = await harness.start(run)

    assert await harness.report_ci(handle, f.ci_report(CiOutcome.SUCCESS)) == "completed"
    assert [r.step_id for r in stubs.calls_to(ActivityName.RUN_QA)] == [1]
    assert stubs.records.event_types() == ["ci_succeeded", "qa_passed", "protocol_completed"]


async def test_ci_running_marks_the_step_running(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("needs_qa", "pending")))

    assert await harness.report_ci(handle, f.ci_report(CiOutcome.RUNNING, status="in_progress")) == "running"
    assert stubs.records.step_statuses() == ["running", "pending"]
    assert stubs.records.events[-1].message == "CI in_progress for step 00-step.md"


async def test_ci_failure_fails_the_step_and_blocks_the_run(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("needs_qa", "pending")))

    assert await harness.report_ci(handle, f.ci_report(CiOutcome.FAILURE, status="timed_out")) == "blocked"
    assert stubs.records.step_statuses() == ["failed", "pending"]
    assert stubs.records.event_types() == ["ci_failed"]


async def test_a_delivery_seen_before_is_ignored(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("needs_qa", "pending")))
    report = f.ci_report(CiOutcome.RUNNING, delivery_id="delivery-1")

    await harness.report_ci(handle, report)
    await harness.report_ci(handle, report)

    assert stubs.records.event_types() == ["ci_running"]


async def test_a_merged_pull_request_completes_the_run(harness, stubs):
    handle = await harness.start(f.run_input(status="blocked", steps=f.step_states("completed", "failed")))

    status = await harness.report_ci(handle, f.ci_report(CiOutcome.MERGED, event_name="pull_request",
                                                         status="merged"))

    assert status == "completed"
    assert stubs.records.event_types() == ["pr_merged", "protocol_completed"]


async def test_a_failure_before_any_step_ran_fails_the_step_created_last_and_blocks_the_run(harness, stubs):
    """As the original orchestrator did: with every step pending, the latest step is the one created last."""
    steps = [f.step_state(1, 1), f.step_state(2, 0), f.step_state(3, 2)]  # created in the order 1, 2, 3
    handle = await harness.start(f.run_input(status="planned", steps=steps))

    assert await harness.report_ci(handle, f.ci_report(CiOutcome.FAILURE, status="failure")) == "blocked"
    assert stubs.records.step_statuses() == ["pending", "pending", "failed"]  # by index: steps 2, 1, 3
    [failed] = stubs.records.events_of("ci_failed")
    assert (failed.step_run_id, failed.message) == (3, "CI failure for step 02-step.md")


async def test_a_report_for_a_run_without_steps_is_recorded_and_changes_nothing(harness, stubs):
    handle = await harness.start(f.run_input(status="planned", steps=[]))

    assert await harness.report_ci(handle, f.ci_report(CiOutcome.FAILURE, status="failure")) == "planned"
    assert stubs.records.event_types() == ["ci_unmatched"]


async def test_a_report_for_a_cancelled_run_is_recorded_as_ignored(harness, stubs):
    handle = await harness.start_with_report(f.run_input(status="cancelled", steps=f.step_states("cancelled")),
                                             f.ci_report(CiOutcome.SUCCESS, status="success"))

    assert await harness.settle(handle) == "cancelled"
    assert stubs.records.event_types() == ["ci_ignored"]
    assert stubs.records.step_statuses() == ["cancelled"]
