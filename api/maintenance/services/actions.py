"""The maintenance actions: each runs a short workflow and answers with its result, as the wire model."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from api.common.errors import BadGateway, NotFound
from api.common.temporal_calls import WorkflowStart, run_workflow
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.maintenance.public import (
    FeedPollPublic,
    FlowEventDispatchAnswer,
    MaintenanceAttemptEnvelope,
    StoredRecord,
    stored_envelope,
)
from models.maintenance.status import DispatchStatus
from models.maintenance.workflow_io import (
    FEED_POLL_EXECUTION_TIMEOUT,
    DispatchOutcome,
    DispatchRequest,
    FeedPollRequest,
    FeedPollResult,
    SyncOutcome,
    SyncRequest,
    WorkflowName,
    attempt_sync_workflow_id,
    feed_poll_workflow_id,
    operator_dispatch_workflow_id,
)


def maintenance_queue(settings: Settings) -> str:
    return surface_task_queue(settings.temporal, WorkerSurfaceName.MAINTENANCE)


async def dispatch_again(client: Client, settings: Settings, event: StoredRecord,
                         operation: str) -> tuple[FlowEventDispatchAnswer, bool]:
    """A retry (``dispatch``) or ``replay`` of a stored event: one new dispatch record and attempt. The answer,
    and whether the dispatch failed (the backend did not take the event)."""
    queue = maintenance_queue(settings)
    event_id = event["id"]
    start = WorkflowStart(WorkflowName.FLOW_EVENT_DISPATCH, DispatchRequest(event_id=event_id, operation=operation),
                          {"id": operator_dispatch_workflow_id(queue, event_id, operation, uuid.uuid4().hex),
                           "task_queue": queue})
    outcome = await run_workflow(client, start, timeout=settings.temporal.update_timeout_seconds,
                                 result_type=DispatchOutcome)
    failed = outcome.record.get("status") == DispatchStatus.FAILED
    return stored_envelope(FlowEventDispatchAnswer, event=event, record=outcome.record), failed


async def sync_attempt(client: Client, settings: Settings, attempt_id: str) -> MaintenanceAttemptEnvelope:
    """The attempt as derived now; a backend that failed is a 502 (and nothing was appended)."""
    queue = maintenance_queue(settings)
    start = WorkflowStart(WorkflowName.ATTEMPT_SYNC, SyncRequest(attempt_id=attempt_id),
                          {"id": attempt_sync_workflow_id(queue, attempt_id, uuid.uuid4().hex), "task_queue": queue})
    outcome = await run_workflow(client, start, timeout=settings.temporal.update_timeout_seconds,
                                 result_type=SyncOutcome)
    if outcome.backend_error is not None:
        raise BadGateway(outcome.backend_error, code="workspace_backend_unavailable")
    if outcome.attempt is None:
        raise NotFound(f"maintenance attempt {attempt_id!r} not found", code="maintenance_attempt_not_found")
    return stored_envelope(MaintenanceAttemptEnvelope, attempt=outcome.attempt)


async def poll_now(client: Client, settings: Settings, source_id: str) -> FeedPollPublic:
    """Poll the source now. The poll's workflow ends within ``FEED_POLL_EXECUTION_TIMEOUT`` whatever happens
    (as a scheduled poll does), so a poll no worker can finish is not left behind."""
    queue = maintenance_queue(settings)
    start = WorkflowStart(WorkflowName.FEED_POLL, FeedPollRequest(source_id=source_id),
                          {"id": feed_poll_workflow_id(queue, source_id, f"manual-{uuid.uuid4().hex}"),
                           "task_queue": queue, "execution_timeout": FEED_POLL_EXECUTION_TIMEOUT})
    result = await run_workflow(client, start, timeout=settings.temporal.update_timeout_seconds,
                                result_type=FeedPollResult)
    if not result.found:
        raise NotFound(result.error or f"feed source {source_id!r} not found", code="feed_source_not_found")
    answer = FeedPollPublic(source_id=result.source_id, primed=result.primed, entries=result.entries,
                            events=result.events)
    if result.error is not None:
        answer.error = result.error
    return answer
