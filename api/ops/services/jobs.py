"""Jobs: the workflow executions on Capstan's task queues, read from Temporal.

Jobs are found with Temporal visibility; running ones are described live for
their pending activities, and the page returned gets its input (the job payload)
from the head of its history. What a job is called, and whose jobs a request may
not look inside, each surface declares for its own queue (``api.common.jobs.SurfaceJobs``).
``docs/api/queues.md`` states the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from temporalio.api.common.v1 import WorkflowExecution as ExecutionRef
from temporalio.api.enums.v1 import EventType, PendingActivityState, PendingWorkflowTaskState
from temporalio.api.history.v1 import HistoryEvent
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.api.workflowservice.v1 import GetWorkflowExecutionHistoryRequest
from temporalio.client import Client, WorkflowExecution, WorkflowExecutionDescription, WorkflowExecutionStatus
from temporalio.service import RPCError, RPCStatusCode

from api.common.jobs import SurfaceJobs
from api.ops.services.queues import RPC_TIMEOUT, capstan_task_queues, proto_time, temporal_errors
from capstan.settings import Settings
from capstan.temporal import surface_task_queue, workflow_ui_url
from models.common import search_attributes as sa
from models.ops.queues import Job, JobActivity, JobMetadata, JobStatus

log = logging.getLogger(__name__)

DEFAULT_LIMIT = 50
#: Temporal calls one request makes at once (describe, history head).
CONCURRENT_CALLS = 16
#: Running executions described per round while looking for queued or started jobs.
SCAN_BATCH = 50
#: Events read from the head of a history: the start event (input) and the first workflow task.
HISTORY_HEAD_EVENTS = 10

#: Task queue name → what its surface declares about its jobs.
JobViews = Mapping[str, SurfaceJobs]

_CLOSED_STATUSES = {
    JobStatus.FINISHED: ("Completed",),
    JobStatus.FAILED: ("Failed", "TimedOut", "Terminated", "Canceled"),
}
_FAILED = {WorkflowExecutionStatus.FAILED, WorkflowExecutionStatus.TIMED_OUT,
           WorkflowExecutionStatus.TERMINATED, WorkflowExecutionStatus.CANCELED}
#: Activity states in which a worker holds the activity.
_ACTIVITY_HELD = {PendingActivityState.PENDING_ACTIVITY_STATE_STARTED,
                  PendingActivityState.PENDING_ACTIVITY_STATE_CANCEL_REQUESTED,
                  PendingActivityState.PENDING_ACTIVITY_STATE_PAUSE_REQUESTED}

T = TypeVar("T")


def jobs_query(queues: Sequence[str], status: JobStatus | None) -> str:
    """The visibility query of a jobs listing. Runs closed by continue-as-new are left out: their
    workflow goes on in the next run, which is listed instead."""
    clauses = [_match("TaskQueue", queues)]
    if status in _CLOSED_STATUSES:
        clauses.append(_match("ExecutionStatus", _CLOSED_STATUSES[status]))
    elif status is not None:
        clauses.append("ExecutionStatus = 'Running'")
    else:
        clauses.append("ExecutionStatus != 'ContinuedAsNew'")
    return " AND ".join(clauses)


def _match(attribute: str, values: Sequence[str]) -> str:
    quoted = [_quote(v) for v in values]
    return f"{attribute} = {quoted[0]}" if len(quoted) == 1 else f"{attribute} IN ({', '.join(quoted)})"


def _quote(value: str) -> str:
    return "'" + re.sub(r"(['\\])", r"\\\1", value) + "'"


def job_status(execution_status: WorkflowExecutionStatus | None, activities: Sequence[PendingActivityInfo],
               taken_by_worker: bool) -> JobStatus:
    """The documented job status of an execution.

    Closed: completed → finished; failed, timed out, terminated, cancelled → failed. Running:
    started when a worker holds one of its activities; queued when its activities only wait
    (scheduled, between retries, paused) or no worker has taken it yet; otherwise started.
    """
    if execution_status == WorkflowExecutionStatus.COMPLETED:
        return JobStatus.FINISHED
    if execution_status in _FAILED:
        return JobStatus.FAILED
    if any(a.state in _ACTIVITY_HELD for a in activities):
        return JobStatus.STARTED
    if activities or not taken_by_worker:
        return JobStatus.QUEUED
    return JobStatus.STARTED


def job_views(settings: Settings, declared: Sequence[SurfaceJobs]) -> JobViews:
    """Each surface's declaration by the name of its task queue."""
    return {surface_task_queue(settings.temporal, jobs.queue): jobs for jobs in declared}


@dataclass
class _Execution:
    """One execution as far as it has been read: its visibility row, then maybe more."""

    listed: WorkflowExecution
    description: WorkflowExecutionDescription | None = None
    head: list[HistoryEvent] | None = None
    _described: bool = field(default=False, repr=False)

    @property
    def info(self) -> WorkflowExecution:
        return self.description or self.listed

    @property
    def activities(self) -> Sequence[PendingActivityInfo]:
        return self.description.raw_description.pending_activities if self.description else ()

    @property
    def running(self) -> bool:
        return self.info.status == WorkflowExecutionStatus.RUNNING

    async def describe(self, client: Client) -> None:
        """The live state of a running execution (visibility lags behind it)."""
        if self._described or self.listed.status != WorkflowExecutionStatus.RUNNING:
            return
        self._described = True
        handle = client.get_workflow_handle(self.listed.id, run_id=self.listed.run_id)
        with _unless_gone():
            self.description = await handle.describe(rpc_timeout=RPC_TIMEOUT)

    async def read_head(self, client: Client) -> None:
        if self.head is not None:
            return
        self.head = []
        request = GetWorkflowExecutionHistoryRequest(
            namespace=client.namespace, execution=ExecutionRef(workflow_id=self.listed.id, run_id=self.listed.run_id),
            maximum_page_size=HISTORY_HEAD_EVENTS)
        with _unless_gone():
            response = await client.workflow_service.get_workflow_execution_history(
                request, retry=True, timeout=RPC_TIMEOUT)
            self.head = list(response.history.events)

    def first_pickup(self) -> datetime | None:
        """When a worker first took the execution (its first workflow task started)."""
        for event in self.head or ():
            if event.event_type == EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
                return proto_time(event, "event_time")
        return None

    def taken_by_worker(self) -> bool | None:
        """Whether a worker has taken it; ``None`` when only the history head can tell."""
        if self.activities or self.first_pickup():
            return True
        if self.description:
            pending = self.description.raw_description.pending_workflow_task
            if pending.state == PendingWorkflowTaskState.PENDING_WORKFLOW_TASK_STATE_STARTED:
                return True
        return False if self.head is not None else None

    async def status(self, client: Client) -> JobStatus:
        await self.describe(client)
        if self.running and self.taken_by_worker() is None:
            await self.read_head(client)
        return job_status(self.info.status, self.activities, bool(self.taken_by_worker()))


@contextlib.contextmanager
def _unless_gone() -> Iterator[None]:
    """An execution deleted between listing and reading (retention) keeps what was listed."""
    try:
        yield
    except RPCError as exc:
        if exc.status != RPCStatusCode.NOT_FOUND:
            raise


async def list_jobs(client: Client, settings: Settings, views: JobViews, status: JobStatus | None = None,
                    limit: int = DEFAULT_LIMIT, offset: int = 0) -> list[Job]:
    """Jobs on Capstan's task queues, in visibility order (running newest first, then closed
    newest first). Queued and started are told apart by reading each running execution, so
    those two filters scan running executions until the page is full."""
    query = jobs_query(capstan_task_queues(settings), status)
    limiter = asyncio.Semaphore(CONCURRENT_CALLS)
    async with temporal_errors(client, settings):
        if status in (JobStatus.QUEUED, JobStatus.STARTED):
            page = await _scan_for_status(client, query, status, limit, offset, limiter)
        else:
            listed = client.list_workflows(query, limit=offset + limit, page_size=min(offset + limit, 1000),
                                           rpc_timeout=RPC_TIMEOUT)
            page = [_Execution(e) async for e in listed][offset:]
        statuses = await _each(limiter, page, lambda e: e.status(client))
        await _each(limiter, page, lambda e: e.read_head(client))
        return [await _job(client, settings, views, e, s) for e, s in zip(page, statuses, strict=True)]


async def _scan_for_status(client: Client, query: str, wanted: JobStatus, limit: int, offset: int,
                           limiter: asyncio.Semaphore) -> list[_Execution]:
    found: list[_Execution] = []
    skipped = 0
    listed = client.list_workflows(query, page_size=SCAN_BATCH, rpc_timeout=RPC_TIMEOUT)
    async for batch in _batches(listed, SCAN_BATCH):
        executions = [_Execution(e) for e in batch]
        for execution, status in zip(executions, await _each(limiter, executions, lambda e: e.status(client)),
                                     strict=True):
            if status != wanted:
                continue
            if skipped < offset:
                skipped += 1
                continue
            found.append(execution)
            if len(found) == limit:
                return found
    return found


async def _batches(items: AsyncIterator[T], size: int) -> AsyncIterator[list[T]]:
    batch: list[T] = []
    async for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


async def _each(limiter: asyncio.Semaphore, items: Sequence[_Execution],
                call: Callable[[_Execution], Awaitable[T]]) -> list[T]:
    async def limited(item: _Execution) -> T:
        async with limiter:
            return await call(item)
    return list(await asyncio.gather(*(limited(i) for i in items)))


async def _job(client: Client, settings: Settings, views: JobViews, execution: _Execution, status: JobStatus) -> Job:
    info = execution.info
    view = views.get(info.task_queue) or SurfaceJobs(queue=info.task_queue)
    attributes = info.typed_search_attributes
    activities = [_activity(a, view) for a in execution.activities]
    run_kind = attributes.get(sa.RUN_KIND)
    job_type = (view.workflow_job_types.get(info.workflow_type)
                or next((a.job_type for a in activities if a.job_type), None)
                or run_kind or info.workflow_type)
    temporal = settings.temporal
    return Job(
        id=info.id, run_id=info.run_id, type=info.workflow_type, job_type=job_type, status=status,
        task_queue=info.task_queue, queued_at=info.start_time, started_at=execution.first_pickup(),
        finished_at=info.close_time, activities=activities, payload=await _payload(client, execution),
        metadata=JobMetadata(
            project_id=attributes.get(sa.PROJECT_ID), protocol_run_id=attributes.get(sa.PROTOCOL_RUN_ID),
            run_kind=run_kind, run_status=attributes.get(sa.STATUS),
            temporal_status=info.status.name.lower() if info.status else "unknown",
            workflow_url=workflow_ui_url(temporal.ui_url, temporal.namespace, info.id, info.run_id),
        ),
    )


def _activity(pending: PendingActivityInfo, view: SurfaceJobs) -> JobActivity:
    state = PendingActivityState.Name(pending.state).removeprefix("PENDING_ACTIVITY_STATE_").lower()
    failure = pending.last_failure.message if pending.HasField("last_failure") else None
    return JobActivity(
        activity_id=pending.activity_id, activity_type=pending.activity_type.name,
        job_type=view.activity_job_type(pending.activity_type.name), state=state, attempt=pending.attempt,
        maximum_attempts=pending.maximum_attempts or None,
        scheduled_at=proto_time(pending, "scheduled_time"), last_started_at=proto_time(pending, "last_started_time"),
        last_heartbeat_at=proto_time(pending, "last_heartbeat_time"),
        next_attempt_at=proto_time(pending, "next_attempt_schedule_time"),
        last_failure=failure or None, last_worker_identity=pending.last_worker_identity or None,
    )


async def _payload(client: Client, execution: _Execution) -> Any:
    """The workflow's input, decoded by the client's data converter (codec included)."""
    started = next((e for e in execution.head or ()
                    if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED), None)
    if started is None:
        return None
    try:
        values = await client.data_converter.decode(started.workflow_execution_started_event_attributes.input.payloads)
    except Exception:  # an input this process cannot decode still lists the job
        log.warning("cannot decode the input of workflow %s", execution.listed.id, exc_info=True)
        return None
    if not values:
        return None
    return values[0] if len(values) == 1 else values


def redact_jobs(jobs: list[Job], hidden: set[tuple[str, int]]) -> list[Job]:
    """Jobs of the projects ``hidden`` names (by task queue and project id: each surface decides for its
    own queue) keep their place in the list (pages stay stable) but lose what their project put in them:
    the workflow input and failure messages."""
    return [_redacted(job) if (job.task_queue, job.metadata.project_id) in hidden else job for job in jobs]


def _redacted(job: Job) -> Job:
    activities = [a.model_copy(update={"last_failure": None}) for a in job.activities]
    return job.model_copy(update={"payload": None, "activities": activities})
