"""The maintenance actions: each runs a short workflow and answers with its result."""

from __future__ import annotations

import uuid

from temporalio.client import Client

from api.common.temporal_calls import WorkflowStart, run_workflow
from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.maintenance.workflow_io import (
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


async def dispatch_again(client: Client, settings: Settings, event_id: str, operation: str) -> DispatchOutcome:
    """A retry (``dispatch``) or ``replay`` of a stored event: one new dispatch record and attempt."""
    queue = maintenance_queue(settings)
    start = WorkflowStart(WorkflowName.FLOW_EVENT_DISPATCH, DispatchRequest(event_id=event_id, operation=operation),
                          {"id": operator_dispatch_workflow_id(queue, event_id, operation, uuid.uuid4().hex),
                           "task_queue": queue})
    return await run_workflow(client, start, timeout=settings.temporal.update_timeout_seconds,
                              result_type=DispatchOutcome)


async def sync_attempt(client: Client, settings: Settings, attempt_id: str) -> SyncOutcome:
    queue = maintenance_queue(settings)
    start = WorkflowStart(WorkflowName.ATTEMPT_SYNC, SyncRequest(attempt_id=attempt_id),
                          {"id": attempt_sync_workflow_id(queue, attempt_id, uuid.uuid4().hex), "task_queue": queue})
    return await run_workflow(client, start, timeout=settings.temporal.update_timeout_seconds,
                              result_type=SyncOutcome)


async def poll_now(client: Client, settings: Settings, source_id: str) -> FeedPollResult:
    queue = maintenance_queue(settings)
    start = WorkflowStart(WorkflowName.FEED_POLL, FeedPollRequest(source_id=source_id),
                          {"id": feed_poll_workflow_id(queue, source_id, f"manual-{uuid.uuid4().hex}"),
                           "task_queue": queue})
    return await run_workflow(client, start, timeout=settings.temporal.update_timeout_seconds,
                              result_type=FeedPollResult)
