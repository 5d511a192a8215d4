"""What the maintenance workflows and activities pass each other, and their names and ids.

Histories are visible in the Web UI: inputs carry ids and references (an event id, a source id),
never a secret; activities load the rest from Postgres and the settings.
"""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, Field


class WorkflowName(StrEnum):
    FEED_POLL = "MaintenanceFeedPoll"
    FLOW_EVENT_DISPATCH = "FlowEventDispatch"
    PATCH_STACK_REBASE = "PatchStackRebaseRun"
    ATTEMPT_SYNC = "MaintenanceAttemptSync"


class ActivityName(StrEnum):
    POLL_FEED_SOURCE = "poll_feed_source"
    START_DISPATCHES = "start_flow_event_dispatches"
    DISPATCH_FLOW_EVENT = "dispatch_flow_event"
    RECORD_RUN_STATE = "record_workspace_run_state"
    REBASE_PATCH_STACK = "rebase_patch_stack"
    SYNC_ATTEMPT = "sync_maintenance_attempt"
    SYNC_ATTEMPTS_OF_RUN = "sync_attempts_of_run"


#: The longest a feed poll's workflow may run, whoever started it: a poll that cannot finish (no worker, a
#: Postgres that does not answer) ends, and the next one runs.
FEED_POLL_EXECUTION_TIMEOUT = timedelta(minutes=10)

#: The automation the built-in backend ships.
PATCH_STACK_REBASE = "patch-stack-rebase"


# Workflow and schedule ids start with the surface's task queue (``capstan-maintenance``), so two
# deployments (or two test runs) sharing a namespace never meet on an event id.

def feed_schedule_id(queue: str, source_id: str) -> str:
    return f"{queue}:feed:{source_id}"


def feed_schedule_prefix(queue: str) -> str:
    return f"{queue}:feed:"


def feed_poll_workflow_id(queue: str, source_id: str, suffix: str) -> str:
    return f"{queue}:feed-poll:{source_id}:{suffix}"


def flow_event_dispatch_workflow_id(queue: str, event_id: str) -> str:
    """The intake's one dispatch of an event (REJECT_DUPLICATE: an event is dispatched once)."""
    return f"{queue}:flow-event:{event_id}"


def operator_dispatch_workflow_id(queue: str, event_id: str, operation: str, request_id: str) -> str:
    """A retry or replay an operator asked for: a new dispatch each time."""
    return f"{queue}:flow-event:{event_id}:{operation}:{request_id}"


def workspace_run_workflow_id(queue: str, run_id: str) -> str:
    return f"{queue}:workspace-run:{run_id}"


def attempt_sync_workflow_id(queue: str, attempt_id: str, request_id: str) -> str:
    return f"{queue}:attempt-sync:{attempt_id}:{request_id}"


class FeedPollRequest(BaseModel):
    source_id: str


class FeedPollResult(BaseModel):
    """``POST /feed-sources/{id}/poll``'s answer (camelCase there), and the poll's record."""

    source_id: str
    primed: bool = False
    #: Entries the feed listed.
    entries: int = 0
    #: Flow events this poll stored (new ids only).
    events: list[str] = Field(default_factory=list)
    error: str | None = None
    #: Stored events of the source still without a dispatch record: this poll's and any left over.
    undispatched: list[str] = Field(default_factory=list)
    found: bool = True


class StartDispatches(BaseModel):
    event_ids: list[str]


class DispatchRequest(BaseModel):
    event_id: str
    operation: str = "dispatch"


class DispatchCall(BaseModel):
    event_id: str
    operation: str
    #: The dispatch workflow's id and run: a retried activity finds what it already wrote.
    dispatch_key: str


class RunStart(BaseModel):
    run_id: str
    event_id: str
    #: Chosen by the activity (it knows the task queue; a replaying workflow does not).
    workflow_id: str


class DispatchOutcome(BaseModel):
    event: dict[str, Any]
    record: dict[str, Any]
    attempt: dict[str, Any]
    #: Built-in runs this dispatch created, started by the dispatch workflow as child workflows.
    start_runs: list[RunStart] = Field(default_factory=list)
    heartbeat_seconds: float = 10.0
    rebase_timeout_seconds: float = 3600.0


class RebaseRunInput(BaseModel):
    run_id: str
    event_id: str
    heartbeat_seconds: float = 10.0
    rebase_timeout_seconds: float = 3600.0


class RunStateWrite(BaseModel):
    run_id: str
    status: str
    result: dict[str, Any] | None = None
    error: str | None = None


class SyncRequest(BaseModel):
    attempt_id: str


class SyncOutcome(BaseModel):
    attempt: dict[str, Any] | None = None
    appended: bool = False
    #: The workspace backend failed: nothing was appended.
    backend_error: str | None = None
