"""The status values of the maintenance records, each defined once."""

from __future__ import annotations

from enum import StrEnum


class AttemptStatus(StrEnum):
    STARTED = "started"
    COMPLETED = "completed"
    CHANGED = "changed"
    NEEDS_INTERVENTION = "needs_intervention"
    BLOCKED = "blocked"
    FAILED = "failed"
    SKIPPED = "skipped"


class DispatchStatus(StrEnum):
    DISPATCHED = "dispatched"
    FAILED = "failed"
    #: In the type and the filter; no dispatch writes it.
    SKIPPED = "skipped"


class DispatchOperation(StrEnum):
    DISPATCH = "dispatch"
    REPLAY = "replay"


class RunProcessStatus(StrEnum):
    """Where a built-in workspace run's process is."""

    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELED = "canceled"


#: The statuses a run's result can report (a run view's ``resultStatus``).
RESULT_STATUSES: tuple[str, ...] = ("skipped", "completed", "changed", "needs_intervention", "blocked", "failed")
#: Effective statuses that need a person.
NEEDS_ATTENTION: frozenset[str] = frozenset({"blocked", "needs_intervention"})
#: What the built-in backend's run list accepts as ``status``.
RUN_STATUS_FILTERS: tuple[str, ...] = tuple(dict.fromkeys([*RunProcessStatus, *RESULT_STATUSES]))
