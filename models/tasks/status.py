"""A task execution's statuses and the one place their transitions are decided.

A task shows its latest execution. ``queued`` → ``running`` → one terminal status; an execution
may also end straight from ``queued`` (blocked at dispatch, stopped before its runner started).
"""

from __future__ import annotations

from enum import StrEnum


class TaskStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCESS = "success"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    STOPPED = "stopped"


class FailureStage(StrEnum):
    DISPATCH = "dispatch"
    AGENT = "agent"
    PR = "pr"


class TaskPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"

    @property
    def number(self) -> int:
        return {TaskPriority.LOW: 1, TaskPriority.NORMAL: 2, TaskPriority.HIGH: 3}[self]

    @classmethod
    def parse(cls, value: object) -> TaskPriority:
        """A word (any case) or 1|2|3 (number or digit string); ``ValueError`` otherwise."""
        if isinstance(value, bool):
            raise ValueError("priority must be low, normal or high")
        if isinstance(value, int) or (isinstance(value, str) and value.strip().isdigit()):
            by_number = {p.number: p for p in cls}
            if int(value) in by_number:
                return by_number[int(value)]
        elif isinstance(value, str) and value.strip().lower() in cls._value2member_map_:
            return cls(value.strip().lower())
        raise ValueError("priority must be low, normal or high (or 1, 2, 3)")


class RunnerKind(StrEnum):
    LOCAL = "local"
    DOCKER = "docker"
    FLY = "fly"


ACTIVE_STATUSES = frozenset({TaskStatus.QUEUED, TaskStatus.RUNNING})
TERMINAL_STATUSES = frozenset(TaskStatus) - ACTIVE_STATUSES
RETRYABLE_STATUSES = frozenset({TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.STOPPED})

_NEXT: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.QUEUED: frozenset({TaskStatus.RUNNING, TaskStatus.FAILED, TaskStatus.STOPPED}),
    TaskStatus.RUNNING: frozenset({TaskStatus.SUCCESS, TaskStatus.FAILED, TaskStatus.TIMED_OUT, TaskStatus.STOPPED}),
}


def can_transition(current: TaskStatus, target: TaskStatus) -> bool:
    """Whether an execution in ``current`` may move to ``target``; terminal statuses never move."""
    return target in _NEXT.get(current, frozenset())


def progress_of(status: TaskStatus) -> int:
    return {TaskStatus.QUEUED: 0, TaskStatus.RUNNING: 10}.get(status, 100)
