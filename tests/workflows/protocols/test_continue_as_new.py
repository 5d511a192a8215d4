"""Continue-as-new: a long run starts a fresh history and carries on where it was. The history
limit (``RunOptions.continue_as_new_after_events``) is tiny here, so it happens at the first workflow
task after an action (an action whose write is a local activity may complete in the task it arrived in)."""

from __future__ import annotations

from models.protocols.workflow_io import ActivityName, CiOutcome, Update
from tests import factories as f
from tests.workflows.protocols.stubs import execution_failed

SMALL_HISTORY = f.run_options(continue_as_new_after_events=4)


async def test_a_long_run_continues_as_new_with_its_steps_and_seen_deliveries(harness, stubs):
    handle = await harness.start(f.run_input(status="running", steps=f.step_states("needs_qa", "pending"),
                                             options=SMALL_HISTORY))
    first_run = (await handle.describe()).run_id
    report = f.ci_report(CiOutcome.SUCCESS, delivery_id="delivery-1")

    await harness.report_ci(handle, report)
    await harness.continued_as_new(handle.id, first_run)
    await harness.report_ci(handle, report)  # the same delivery again, to the new run
    step = (await harness.act_and_settle(handle, Update.RUN_NEXT_STEP)).step_id
    await harness.act(handle, Update.STEP_APPROVE, step_id=step)

    assert await harness.settle(handle) == "completed"
    assert step == 2  # step 1 stayed completed across the new run
    assert stubs.records.event_types() == ["ci_succeeded", "step_started", "step_completed", "manual_approval",
                                           "protocol_completed"]
    assert len({e.dedupe_key for e in stubs.records.events}) == len(stubs.records.events)
    assert len(await harness.run_chain(handle.id, first_run)) > 1


async def test_work_queued_while_paused_is_carried_into_the_new_run(harness, stubs):
    handle = await harness.start(f.run_input(status="paused", steps=f.step_states("needs_qa"),
                                             options=SMALL_HISTORY))
    first_run = (await handle.describe()).run_id

    await harness.act(handle, Update.STEP_RUN_QA, step_id=1)  # queued behind the pause
    await harness.settle(handle)  # a workflow task after the history passed the limit
    await harness.continued_as_new(handle.id, first_run)

    assert stubs.calls_to(ActivityName.RUN_QA) == []
    await harness.act(handle, Update.RESUME)
    assert await harness.settle(handle) == "completed"
    assert [r.step_id for r in stubs.calls_to(ActivityName.RUN_QA)] == [1]


async def test_loop_counts_survive_continue_as_new(harness, stubs):
    looping = f.step_state(1, policy={"type": "loop", "step_back": 0, "max_iterations": 1})
    stubs.execute_results = [execution_failed(), execution_failed(), execution_failed()]
    handle = await harness.start(f.run_input(status="planned", steps=[looping], options=SMALL_HISTORY))
    first_run = (await handle.describe()).run_id

    await harness.act_and_settle(handle, Update.RUN_NEXT_STEP)  # fails, loops once, fails again
    await harness.continued_as_new(handle.id, first_run)
    await harness.act_and_settle(handle, Update.RETRY_LATEST)  # fails: the loop is used up

    assert stubs.records.event_types() == ["step_started", "step_failed", "loop_policy_applied", "step_failed",
                                           "loop_policy_exhausted", "step_retried", "step_failed",
                                           "loop_policy_exhausted"]
    assert stubs.records.runtime_state == {"loop_counts": {"1": 1}}
    assert stubs.records.protocol_status == "blocked"
