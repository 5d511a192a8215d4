"""Task queues, read from Temporal (the orchestrator API's "Events & queues"); jobs are in ``jobs.py``.

Queue statistics come from ``DescribeTaskQueue`` (one call per task type, with
``report_stats``). This module also holds what both listings share: the queues
Capstan polls, the translation of Temporal's transport errors and timestamps.
``docs/api/queues.md`` states the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from google.protobuf.message import Message
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest, DescribeTaskQueueResponse
from temporalio.client import Client

from api.common import temporal_calls
from capstan.settings import Settings
from capstan.temporal import surface_task_queues
from models.ops.queues import QueuePoller, QueueStats, TaskType, TaskTypeStats

RPC_TIMEOUT = timedelta(seconds=10)

_TASK_TYPES: dict[TaskType, TaskQueueType.ValueType] = {
    "workflow": TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
    "activity": TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
}


def capstan_task_queues(settings: Settings) -> list[str]:
    """Every task queue Capstan workers poll: one per worker surface (``capstan.temporal.WorkerSurfaceName``)."""
    return surface_task_queues(settings.temporal)


# --- errors ---------------------------------------------------------------------------------------

def temporal_errors(client: Client, settings: Settings) -> contextlib.AbstractAsyncContextManager[None]:
    """Turn Temporal transport failures into 503 (unreachable) or 502 (refused)."""
    where = f"Temporal at {settings.temporal.address} (namespace {settings.temporal.namespace!r})"
    return temporal_calls.temporal_errors(client, where)


# --- queues ---------------------------------------------------------------------------------------

async def list_queue_stats(client: Client, settings: Settings) -> list[QueueStats]:
    async with temporal_errors(client, settings):
        return list(await asyncio.gather(*(describe_queue(client, name) for name in capstan_task_queues(settings))))


async def describe_queue(client: Client, name: str) -> QueueStats:
    described = await asyncio.gather(*(_describe_task_type(client, name, t) for t in _TASK_TYPES))
    (workflow, workflow_pollers), (activity, activity_pollers) = described
    halves = (workflow, activity)
    return QueueStats(
        name=name,
        pollers=workflow_pollers + activity_pollers,
        workflow_pollers=workflow.pollers,
        activity_pollers=activity.pollers,
        backlog=_sum(h.backlog for h in halves),
        backlog_age_seconds=_max(h.backlog_age_seconds for h in halves),
        tasks_add_rate=_sum(h.tasks_add_rate for h in halves),
        tasks_dispatch_rate=_sum(h.tasks_dispatch_rate for h in halves),
        workflow_tasks=workflow,
        activity_tasks=activity,
    )


async def _describe_task_type(client: Client, name: str, task_type: TaskType
                              ) -> tuple[TaskTypeStats, list[QueuePoller]]:
    response: DescribeTaskQueueResponse = await client.workflow_service.describe_task_queue(
        DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=name),
                                 task_queue_type=_TASK_TYPES[task_type], report_stats=True),
        retry=True, timeout=RPC_TIMEOUT)
    pollers = [QueuePoller(identity=p.identity, task_type=task_type,
                           last_access_time=proto_time(p, "last_access_time"), rate_per_second=p.rate_per_second)
               for p in response.pollers]
    if response.HasField("stats"):  # servers before 1.25 report no statistics
        stats = response.stats
        return TaskTypeStats(
            pollers=len(pollers), backlog=stats.approximate_backlog_count,
            backlog_age_seconds=stats.approximate_backlog_age.ToTimedelta().total_seconds(),
            tasks_add_rate=stats.tasks_add_rate, tasks_dispatch_rate=stats.tasks_dispatch_rate,
        ), pollers
    return TaskTypeStats(pollers=len(pollers), backlog=None, backlog_age_seconds=None, tasks_add_rate=None,
                         tasks_dispatch_rate=None), pollers


def _sum(values: Iterator[float | None]) -> Any:
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _max(values: Iterator[float | None]) -> float | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


def proto_time(message: Message, name: str) -> datetime | None:
    """A protobuf timestamp field as a datetime; ``None`` when unset or zero."""
    if not message.HasField(name):
        return None
    value = getattr(message, name)
    if not value.seconds and not value.nanos:
        return None
    return value.ToDatetime(tzinfo=UTC)
