"""The status rules of seed 003, as SURFACES.md states them."""

from __future__ import annotations

from models.status import (
    PROTOCOL_ACTION_FROM,
    STEP_ACTION_FROM,
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
