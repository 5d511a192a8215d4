"""``ProtocolRunState``: the pure state of one protocol run and the rules that move it."""

from __future__ import annotations

import pytest
from temporalio.exceptions import ApplicationError

from models.protocols.policies import MAX_TRIGGER_DEPTH
from models.protocols.status import ProtocolAction, ProtocolStatus, StepAction, StepStatus
from models.protocols.workflow_io import UpdateErrorType
from tests import factories as f
from workflows.protocols.protocol_state import ProtocolRunState


def state(status: str = "running", *step_statuses: str, **kwargs) -> ProtocolRunState:
    return ProtocolRunState(status, f.step_states(*step_statuses), None, **kwargs)


# --- which step an action picks ------------------------------------------------------------------

@pytest.mark.parametrize("statuses, picked", [
    (("completed", "pending", "pending"), 2),
    (("completed", "failed", "pending"), 2),
    (("needs_qa", "blocked", "failed"), 2),
    (("running", "completed", "pending"), 3),
])
def test_next_runnable_step_is_the_first_by_index_that_may_run(statuses, picked):
    assert state("running", *statuses).next_runnable_step().id == picked


def test_next_runnable_step_goes_by_index_not_by_id():
    steps = [f.step_state(1, 2), f.step_state(2, 0, "completed"), f.step_state(3, 1)]
    assert ProtocolRunState("running", steps, None).next_runnable_step().id == 3


def test_no_runnable_step_is_not_found():
    with pytest.raises(ApplicationError) as refused:
        state("running", "completed", "needs_qa", "running", "cancelled").next_runnable_step()
    assert refused.value.type == UpdateErrorType.NOT_FOUND and refused.value.non_retryable


@pytest.mark.parametrize("statuses, picked", [
    (("failed", "blocked", "pending"), 2),
    (("failed", "completed", "pending"), 1),
])
def test_latest_retryable_step_is_the_last_failed_or_blocked(statuses, picked):
    assert state("blocked", *statuses).latest_retryable_step().id == picked


def test_no_retryable_step_is_not_found():
    with pytest.raises(ApplicationError) as refused:
        state("running", "pending", "completed").latest_retryable_step()
    assert refused.value.message == "no failed or blocked step to retry"


def test_ci_results_go_to_the_step_last_worked_on_else_the_latest_started():
    assert state("running", "completed", "needs_qa", "pending").ci_target_step().id == 2
    assert state("running", "completed", "failed", "pending", last_step_id=1).ci_target_step().id == 1
    assert state("planned", "pending", "pending").ci_target_step() is None


# --- guards --------------------------------------------------------------------------------------

def test_a_protocol_action_outside_its_table_is_a_conflict():
    with pytest.raises(ApplicationError) as refused:
        state("completed").check_protocol_action(ProtocolAction.PAUSE)
    assert refused.value.type == UpdateErrorType.CONFLICT
    assert refused.value.message == "cannot pause a protocol run that is completed"


def test_a_step_action_names_the_step_and_its_status_when_refused():
    run = state("running", "completed")
    with pytest.raises(ApplicationError) as refused:
        run.check_step_action(StepAction.RUN_QA, 1)
    assert refused.value.message == "cannot run qa step 1: it is completed"
    with pytest.raises(ApplicationError) as unknown:
        run.check_step_action(StepAction.RUN, 7)
    assert unknown.value.type == UpdateErrorType.NOT_FOUND


def test_an_allowed_step_action_returns_the_step():
    assert state("running", "pending", "failed").check_step_action(StepAction.RUN, 2).id == 2


# --- changes and what gets written ---------------------------------------------------------------

def test_changed_steps_are_taken_once_in_id_order():
    run = state("running", "pending", "pending", "pending")
    run.set_step(run.steps[3], StepStatus.RUNNING)
    run.set_step(run.steps[1], StepStatus.COMPLETED, summary="ok")

    assert [s.id for s in run.take_changed_steps()] == [1, 3]
    assert run.take_changed_steps() == []
    assert run.steps[1].summary == "ok" and run.steps[3].status == "running"


def test_running_or_needs_qa_makes_a_step_the_last_worked_on():
    run = state("running", "pending", "pending")
    run.set_step(run.steps[2], StepStatus.NEEDS_QA)
    run.set_step(run.steps[1], StepStatus.COMPLETED)
    assert run.last_step_id == 2


def test_retries_are_set_only_when_given():
    run = state("blocked", "failed")
    run.set_step(run.steps[1], StepStatus.RUNNING, retries=2)
    run.set_step(run.steps[1], StepStatus.NEEDS_QA)
    assert run.steps[1].retries == 2


def test_cancel_cancels_open_steps_and_keeps_finished_ones():
    run = state("running", "completed", "running", "needs_qa", "pending", "failed", "blocked")

    cancelled = run.cancel()

    assert [s.id for s in cancelled] == [2, 3, 4]
    assert run.status == ProtocolStatus.CANCELLED
    assert [s.status for s in run.ordered_steps()] == [
        "completed", "cancelled", "cancelled", "cancelled", "failed", "blocked"]


@pytest.mark.parametrize("protocol, steps, expected", [
    ("running", ("completed", "cancelled"), True),
    ("running", ("completed", "needs_qa"), False),
    ("blocked", ("completed",), False),
    ("running", (), False),
])
def test_can_complete(protocol, steps, expected):
    assert state(protocol, *steps).can_complete() is expected


def test_runtime_state_is_written_only_after_it_changed():
    run = ProtocolRunState("running", f.step_states("failed"), {"keep": 1})
    assert run.take_runtime_state() is None
    run.steps[1].policy = {"type": "loop", "step_back": 0, "max_iterations": 2}
    run.apply_loop_policy(run.steps[1])
    assert run.take_runtime_state() == {"keep": 1, "loop_counts": {"1": 1}}
    assert run.take_runtime_state() is None


# --- policies ------------------------------------------------------------------------------------

def test_a_loop_policy_resets_the_failed_step_and_those_before_it():
    run = state("blocked", "completed", "completed", "cancelled", "failed", "pending")
    failed = run.steps[4]
    failed.policy = {"type": "loop", "step_back": 3, "max_iterations": 2}

    loop = run.apply_loop_policy(failed)

    assert [s.id for s in loop.reset] == [1, 2, 4]  # the cancelled step stays cancelled
    assert (loop.iteration, loop.max_iterations) == (1, 2)
    assert [s.status for s in run.ordered_steps()] == ["pending", "pending", "cancelled", "pending", "pending"]


def test_a_loop_policy_stops_after_max_iterations():
    run = state("blocked", "failed")
    run.steps[1].policy = [{"type": "trigger", "agent_id": "x"}, {"type": "loop", "step_back": 0,
                                                                   "max_iterations": 1}]
    assert run.apply_loop_policy(run.steps[1]).reset == [run.steps[1]]
    run.set_step(run.steps[1], StepStatus.FAILED)

    exhausted = run.apply_loop_policy(run.steps[1])

    assert exhausted.reset == [] and exhausted.iteration == 1
    assert run.steps[1].status == "failed"


def test_no_loop_policy_no_loop():
    run = state("blocked", "failed")
    assert run.apply_loop_policy(run.steps[1]) is None


def test_a_trigger_names_its_target_by_agent_and_stops_at_max_depth():
    steps = f.step_states("completed", "pending", "cancelled")
    steps[0].policy = {"type": "trigger", "agent_id": "reviewer"}
    steps[1].runtime_state = {"agent_id": "reviewer"}
    steps[2].runtime_state = {"agent_id": "reviewer"}
    run = ProtocolRunState("running", steps, None)

    assert run.trigger_target(steps[0], depth=0) is steps[1]
    assert run.trigger_target(steps[0], depth=MAX_TRIGGER_DEPTH) is None
    assert run.trigger_target(steps[1], depth=0) is None  # no trigger policy of its own


def test_recorded_triggers_keep_the_latest_hundred():
    run = state("running", "completed", "pending")
    for depth in range(105):
        run.record_trigger(run.steps[1], run.steps[2], depth)
    triggers = run.take_runtime_state()["triggers"]
    assert len(triggers) == 100 and triggers[-1] == {"from_step": 1, "to_step": 2, "depth": 104}
