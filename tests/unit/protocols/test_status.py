"""The status rules of the protocol-runs API (docs/api/orchestrator.md), one test per rule."""

from __future__ import annotations

from models.protocols.status import (
    PROTOCOL_ACTION_FROM,
    PROTOCOL_TERMINAL,
    STEP_ACTION_FROM,
    STEP_CANCELLABLE,
    STEP_RETRYABLE,
    STEP_RUNNABLE,
    ProtocolAction,
    ProtocolStatus,
    StepAction,
    StepStatus,
    protocol_can_complete,
)

P, S = ProtocolStatus, StepStatus


def test_start_only_from_pending_planned_paused():
    assert PROTOCOL_ACTION_FROM[ProtocolAction.START] == {P.PENDING, P.PLANNED, P.PAUSED}


def test_pause_refused_from_terminal_states():
    assert set(P) - PROTOCOL_ACTION_FROM[ProtocolAction.PAUSE] == {P.CANCELLED, P.COMPLETED, P.FAILED}


def test_resume_only_from_paused_and_cancel_from_anywhere():
    assert PROTOCOL_ACTION_FROM[ProtocolAction.RESUME] == {P.PAUSED}
    assert PROTOCOL_ACTION_FROM[ProtocolAction.CANCEL] == set(P)


def test_step_action_sources():
    assert STEP_ACTION_FROM[StepAction.RUN] == {S.PENDING, S.BLOCKED, S.FAILED}
    assert set(S) - STEP_ACTION_FROM[StepAction.RUN_QA] == {S.COMPLETED, S.CANCELLED}
    assert set(S) - STEP_ACTION_FROM[StepAction.APPROVE] == {S.CANCELLED}


def test_protocol_completes_only_when_every_step_is_done_and_it_is_not_stuck():
    assert protocol_can_complete(P.RUNNING, [S.COMPLETED, S.CANCELLED])
    assert not protocol_can_complete(P.RUNNING, [S.COMPLETED, S.NEEDS_QA])
    assert not protocol_can_complete(P.BLOCKED, [S.COMPLETED])
    assert not protocol_can_complete(P.COMPLETED, [S.COMPLETED])


def test_every_action_has_a_rule():
    assert set(PROTOCOL_ACTION_FROM) == set(ProtocolAction)
    assert set(STEP_ACTION_FROM) == set(StepAction)


def test_stepping_actions_refused_while_planning_paused_or_closed():
    for action in (ProtocolAction.RUN_NEXT_STEP, ProtocolAction.RETRY_LATEST):
        assert set(P) - PROTOCOL_ACTION_FROM[action] == {P.PLANNING, P.PAUSED, P.CANCELLED, P.COMPLETED}


def test_open_pr_refused_only_while_planning_or_cancelled():
    assert set(P) - PROTOCOL_ACTION_FROM[ProtocolAction.OPEN_PR] == {P.PLANNING, P.CANCELLED}


def test_run_next_step_and_retry_latest_pick_only_steps_a_step_run_may_start():
    assert STEP_RUNNABLE == STEP_ACTION_FROM[StepAction.RUN]
    assert STEP_RETRYABLE == {S.FAILED, S.BLOCKED} and STEP_RETRYABLE < STEP_RUNNABLE


def test_cancel_takes_the_open_steps_and_leaves_the_others():
    assert STEP_CANCELLABLE == {S.PENDING, S.RUNNING, S.NEEDS_QA}


def test_a_protocol_completes_from_an_open_status_only():
    done = [S.COMPLETED]
    assert {p for p in P if protocol_can_complete(p, done)} == {
        P.PENDING, P.PLANNING, P.PLANNED, P.RUNNING, P.PAUSED}
    assert PROTOCOL_TERMINAL == {P.COMPLETED, P.CANCELLED, P.FAILED}
