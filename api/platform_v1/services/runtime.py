"""The agent runtime's health and its task queue (``GET /agent-runtime/health``, ``GET /agent-runtime/queues``):
Temporal reachable, workers polling ``capstan-platform_v1``, the workspace's agents, its outbox and its jobs.
Each component is ``ok`` or ``degraded``; the whole is ``degraded`` when one is."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from sqlalchemy import Integer, cast, func
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest
from temporalio.client import Client

from api.common import temporal_calls
from api.platform_v1.caller import Caller
from api.platform_v1.services.connections import hand_back
from api.platform_v1.services.executions import platform_queue
from capstan.settings import Settings
from models.common.base import utcnow
from models.platform_v1.engine_tables import AgentRow, ExecutionRow
from models.platform_v1.event_tables import EventRow
from models.platform_v1.events import EventStatus
from models.platform_v1.execution_contracts import (
    AgentsComponent,
    JobsComponent,
    OutboxComponent,
    RuntimeComponents,
    RuntimeHealth,
    RuntimeQueue,
    ServiceComponent,
)
from models.platform_v1.executions import ExecutionStatus, ExecutionType

#: An event pending for longer than this degrades the outbox.
OUTBOX_PENDING_LIMIT_SECONDS = 60
DESCRIBE_TIMEOUT = timedelta(seconds=5)
JOB_TYPES = (ExecutionType.IMPORT, ExecutionType.EXPORT, ExecutionType.ACCOUNTING_SYNC)


async def describe_platform_queue(client: Client, settings: Settings) -> RuntimeQueue:
    name = platform_queue(settings)

    async def describe(task_type: TaskQueueType.ValueType) -> tuple[int, int | None, float | None]:
        response = await client.workflow_service.describe_task_queue(
            DescribeTaskQueueRequest(namespace=client.namespace, task_queue=TaskQueue(name=name),
                                     task_queue_type=task_type, report_stats=True), timeout=DESCRIBE_TIMEOUT)
        if not response.HasField("stats"):
            return len(response.pollers), None, None
        stats = response.stats
        return (len(response.pollers), stats.approximate_backlog_count,
                stats.approximate_backlog_age.ToTimedelta().total_seconds())

    (workflows, w_backlog, w_age), (activities, a_backlog, a_age) = await asyncio.gather(
        describe(TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW), describe(TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
    backlogs = [value for value in (w_backlog, a_backlog) if value is not None]
    ages = [value for value in (w_age, a_age) if value is not None]
    return RuntimeQueue(name=name, workflowPollers=workflows, activityPollers=activities,
                        backlog=sum(backlogs) if backlogs else None, backlogAgeSeconds=max(ages) if ages else None)


async def queue_of(client: Client, settings: Settings) -> RuntimeQueue:
    where = f"Temporal at {settings.temporal.address} (namespace {settings.temporal.namespace!r})"
    async with temporal_calls.temporal_errors(client, where):
        return await describe_platform_queue(client, settings)


async def _temporal_and_workers(client: Client, settings: Settings) -> tuple[ServiceComponent, ServiceComponent]:
    if await temporal_calls.temporal_unreachable(client):
        return (ServiceComponent(status="degraded", detail=f"Temporal at {settings.temporal.address} is unreachable"),
                ServiceComponent(status="degraded", detail="unknown: Temporal is unreachable"))
    temporal = ServiceComponent(status="ok", detail=f"Temporal at {settings.temporal.address} answers")
    try:
        queue = await describe_platform_queue(client, settings)
    except Exception as error:  # noqa: BLE001 - a health check reports what it cannot read
        return temporal, ServiceComponent(status="degraded", detail=f"cannot describe the task queue: {error}")
    polling = queue.workflowPollers + queue.activityPollers
    if not queue.workflowPollers or not queue.activityPollers:
        return temporal, ServiceComponent(status="degraded", detail=f"no worker polls {queue.name}")
    return temporal, ServiceComponent(status="ok", detail=f"{polling} pollers on {queue.name}")


async def _count(db: AsyncSession, query) -> int:
    return (await db.exec(select(cast(func.count(), Integer)).select_from(query.subquery()))).one()


async def _agents(db: AsyncSession, caller: Caller, settings: Settings) -> AgentsComponent:
    stale_before = utcnow() - timedelta(seconds=settings.platform.agent_stale_seconds)
    mine = select(AgentRow.id).where(AgentRow.workspace_id == caller.tenant)
    total = await _count(db, mine)
    healthy = await _count(db, mine.where(AgentRow.last_heartbeat_at >= stale_before))
    return AgentsComponent(status="degraded" if total and not healthy else "ok", total=total, healthy=healthy,
                           stale=total - healthy)


async def _outbox(db: AsyncSession, caller: Caller, now: datetime) -> OutboxComponent:
    mine = select(EventRow.id).where(EventRow.workspace_id == caller.tenant)
    pending = await _count(db, mine.where(EventRow.status == EventStatus.PENDING))
    failed = await _count(db, mine.where(EventRow.status == EventStatus.FAILED))
    oldest = (await db.exec(select(func.min(EventRow.occurred_at)).where(
        EventRow.workspace_id == caller.tenant, EventRow.status == EventStatus.PENDING))).one()
    age = max(0.0, (now - oldest).total_seconds()) if oldest is not None else None
    degraded = failed > 0 or (age is not None and age > OUTBOX_PENDING_LIMIT_SECONDS)
    return OutboxComponent(status="degraded" if degraded else "ok", pending=pending, failed=failed,
                           oldestPendingSeconds=round(age, 3) if age is not None else None)


async def _jobs(db: AsyncSession, caller: Caller) -> JobsComponent:
    jobs = select(ExecutionRow.id).where(ExecutionRow.workspace_id == caller.tenant,
                                         col(ExecutionRow.type).in_(JOB_TYPES))
    counts = {status: await _count(db, jobs.where(ExecutionRow.status == status))
              for status in (ExecutionStatus.QUEUED, ExecutionStatus.RUNNING, ExecutionStatus.FAILED)}
    return JobsComponent(status="degraded" if counts[ExecutionStatus.FAILED] else "ok",
                         queued=counts[ExecutionStatus.QUEUED], running=counts[ExecutionStatus.RUNNING],
                         failed=counts[ExecutionStatus.FAILED])


async def runtime_health(db: AsyncSession, client: Client, settings: Settings, caller: Caller) -> RuntimeHealth:
    now = utcnow()
    agents, outbox, jobs = await _agents(db, caller, settings), await _outbox(db, caller, now), await _jobs(db, caller)
    await hand_back(db)
    temporal, workers = await _temporal_and_workers(client, settings)
    components = RuntimeComponents(temporal=temporal, workers=workers, agents=agents, outbox=outbox, jobs=jobs)
    degraded = any(part.status == "degraded" for part in (temporal, workers, agents, outbox, jobs))
    return RuntimeHealth(status="degraded" if degraded else "ok", checkedAt=now, components=components)
