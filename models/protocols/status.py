"""Status enums and the rules that move them, defined once.

Workflows apply these rules, update validators check them, the API checks a
run's record against them before it sends an action to the run's workflow, and
tests read them. A rule is a set of statuses an action may start from; anything
else is a conflict (HTTP 409, with the message ``*_refusal`` gives).
"""

from __future__ import annotations

from enum import StrEnum


class ProtocolStatus(StrEnum):
    PENDING = "pending"
    PLANNING = "planning"
    PLANNED = "planned"
    RUNNING = "running"
    PAUSED = "paused"
    BLOCKED = "blocked"
    FAILED = "failed"
    CANCELLED = "cancelled"
    COMPLETED = "completed"


class StepStatus(StrEnum):
    PENDING = "pending"
    RUNNING = "running"
    NEEDS_QA = "needs_qa"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"
    BLOCKED = "blocked"


class ProtocolAction(StrEnum):
    START = "start"
    PAUSE = "pause"
    RESUME = "resume"
    CANCEL = "cancel"
    RUN_NEXT_STEP = "run_next_step"
    RETRY_LATEST = "retry_latest"
    OPEN_PR = "open_pr"


class StepAction(StrEnum):
    RUN = "run"
    RUN_QA = "run_qa"
    APPROVE = "approve"


_ALL_PROTOCOL = frozenset(ProtocolStatus)
_ALL_STEP = frozenset(StepStatus)

#: Statuses a protocol run never leaves by itself. A run there still takes actions (``cancel``, ``open_pr``,
#: ``retry_latest`` from failed, step actions), so its workflow stays open (``ProtocolRunWorkflow``).
PROTOCOL_TERMINAL = frozenset({ProtocolStatus.COMPLETED, ProtocolStatus.CANCELLED, ProtocolStatus.FAILED})

#: Which protocol statuses each protocol action may start from.
PROTOCOL_ACTION_FROM: dict[ProtocolAction, frozenset[ProtocolStatus]] = {
    ProtocolAction.START: frozenset({ProtocolStatus.PENDING, ProtocolStatus.PLANNED, ProtocolStatus.PAUSED}),
    ProtocolAction.PAUSE: _ALL_PROTOCOL - PROTOCOL_TERMINAL,
    ProtocolAction.RESUME: frozenset({ProtocolStatus.PAUSED}),
    ProtocolAction.CANCEL: _ALL_PROTOCOL,  # idempotent
    ProtocolAction.RUN_NEXT_STEP: frozenset({
        ProtocolStatus.PENDING, ProtocolStatus.PLANNED, ProtocolStatus.RUNNING,
        ProtocolStatus.BLOCKED, ProtocolStatus.FAILED,
    }),
    ProtocolAction.RETRY_LATEST: frozenset({
        ProtocolStatus.PENDING, ProtocolStatus.PLANNED, ProtocolStatus.RUNNING, ProtocolStatus.BLOCKED,
        ProtocolStatus.FAILED,
    }),
    ProtocolAction.OPEN_PR: _ALL_PROTOCOL - {ProtocolStatus.CANCELLED, ProtocolStatus.PLANNING},
}

#: Which step statuses each step action may start from.
STEP_ACTION_FROM: dict[StepAction, frozenset[StepStatus]] = {
    StepAction.RUN: frozenset({StepStatus.PENDING, StepStatus.BLOCKED, StepStatus.FAILED}),
    StepAction.RUN_QA: _ALL_STEP - {StepStatus.COMPLETED, StepStatus.CANCELLED},
    StepAction.APPROVE: _ALL_STEP - {StepStatus.CANCELLED},
}

#: Steps that ``run_next_step`` may pick (first by index) and ``retry_latest`` (latest).
STEP_RUNNABLE = frozenset({StepStatus.PENDING, StepStatus.BLOCKED, StepStatus.FAILED})
STEP_RETRYABLE = frozenset({StepStatus.FAILED, StepStatus.BLOCKED})
#: Steps that ``cancel`` moves to cancelled.
STEP_CANCELLABLE = frozenset({StepStatus.PENDING, StepStatus.RUNNING, StepStatus.NEEDS_QA})
#: A protocol completes when every step is in one of these ...
STEP_DONE = frozenset({StepStatus.COMPLETED, StepStatus.CANCELLED})
#: ... and the protocol is not in one of these.
PROTOCOL_NOT_COMPLETABLE = frozenset({
    ProtocolStatus.BLOCKED, ProtocolStatus.FAILED, ProtocolStatus.CANCELLED, ProtocolStatus.COMPLETED,
})


def protocol_action_allowed(action: ProtocolAction, status: ProtocolStatus) -> bool:
    return status in PROTOCOL_ACTION_FROM[action]


def step_action_allowed(action: StepAction, status: StepStatus) -> bool:
    return status in STEP_ACTION_FROM[action]


def protocol_action_refusal(action: ProtocolAction, status: ProtocolStatus | str) -> str | None:
    """Why ``action`` is refused from ``status`` (the 409's detail, whoever answers it); ``None`` when allowed."""
    status = ProtocolStatus(status)
    if protocol_action_allowed(action, status):
        return None
    return f"cannot {action.value} a protocol run that is {status.value}"


def step_action_refusal(action: StepAction, step_id: int | None, status: StepStatus | str) -> str | None:
    """Why ``action`` is refused on a step in ``status``; ``None`` when allowed."""
    status = StepStatus(status)
    if step_action_allowed(action, status):
        return None
    return f"cannot {action.value.replace('_', ' ')} step {step_id}: it is {status.value}"


def protocol_can_complete(status: ProtocolStatus, step_statuses: list[StepStatus]) -> bool:
    return status not in PROTOCOL_NOT_COMPLETABLE and all(s in STEP_DONE for s in step_statuses)
