"""Responses of ``GET /queues`` and ``GET /queues/jobs``: task queues and jobs as Temporal sees them.

A *job* is one Capstan workflow execution on a Capstan task queue; its pending
activities are the units of work a worker is running or waiting to run.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any, Literal

from pydantic import BaseModel, Field

TaskType = Literal["workflow", "activity"]


class QueuePoller(BaseModel):
    """A worker that polled the queue recently (Temporal keeps pollers for a few minutes)."""

    identity: str = Field(description="The worker's identity, e.g. `capstan-worker@host:pid`.")
    task_type: TaskType = Field(description="Which tasks it polls for: workflow or activity tasks.")
    last_access_time: datetime | None = Field(description="When it last polled.")
    rate_per_second: float = Field(description="Its configured dispatch rate limit (0 = unset).")


class TaskTypeStats(BaseModel):
    """One half of a task queue: its workflow tasks or its activity tasks."""

    pollers: int = Field(description="Workers polling for this task type.")
    backlog: int | None = Field(description="Approximate number of tasks waiting for a worker; null when the "
                                            "server does not report statistics.")
    backlog_age_seconds: float | None = Field(description="Age of the oldest waiting task, in seconds.")
    tasks_add_rate: float | None = Field(description="Tasks added per second (recent average).")
    tasks_dispatch_rate: float | None = Field(description="Tasks handed to workers per second (recent average).")


class QueueStats(BaseModel):
    name: str = Field(description="Task queue name.")
    pollers: list[QueuePoller] = Field(description="Recent pollers, one entry per worker and task type.")
    workflow_pollers: int = Field(description="Workers polling for workflow tasks.")
    activity_pollers: int = Field(description="Workers polling for activity tasks.")
    backlog: int | None = Field(description="Approximate tasks waiting for a worker (workflow + activity).")
    backlog_age_seconds: float | None = Field(description="Age of the oldest waiting task (either type), seconds.")
    tasks_add_rate: float | None = Field(description="Tasks added per second (workflow + activity).")
    tasks_dispatch_rate: float | None = Field(description="Tasks dispatched per second (workflow + activity).")
    workflow_tasks: TaskTypeStats
    activity_tasks: TaskTypeStats


class QueueSummary(BaseModel):
    """A task queue as anyone may see it (``GET /.well-known/engine-status``): how many workers poll it and
    its backlog, but not who they are (a poller's identity names its host and process id)."""

    name: str = Field(description="Task queue name.")
    workflow_pollers: int = Field(description="Workers polling for workflow tasks.")
    activity_pollers: int = Field(description="Workers polling for activity tasks.")
    backlog: int | None = Field(description="Approximate tasks waiting for a worker (workflow + activity).")
    backlog_age_seconds: float | None = Field(description="Age of the oldest waiting task (either type), seconds.")
    tasks_add_rate: float | None = Field(description="Tasks added per second (workflow + activity).")
    tasks_dispatch_rate: float | None = Field(description="Tasks dispatched per second (workflow + activity).")
    workflow_tasks: TaskTypeStats
    activity_tasks: TaskTypeStats

    @classmethod
    def of(cls, stats: QueueStats) -> QueueSummary:
        return cls.model_construct(**{name: getattr(stats, name) for name in cls.model_fields})


class JobStatus(StrEnum):
    """The documented job states, derived from the Temporal execution (see docs/api/queues.md)."""

    QUEUED = "queued"        # running, but no worker is working on it yet
    STARTED = "started"      # running and taken by a worker
    FAILED = "failed"        # failed, timed out, terminated or cancelled
    FINISHED = "finished"    # completed


class JobActivity(BaseModel):
    """A pending activity of the job: work scheduled for, or running on, a worker."""

    activity_id: str
    activity_type: str = Field(description="Activity name, e.g. `fetch_repository`.")
    job_type: str | None = Field(description="The documented job name for this work, when it is one (see docs).")
    state: str = Field(description="`scheduled`, `started`, `cancel_requested`, `paused` or `pause_requested`.")
    attempt: int = Field(description="Current attempt, from 1.")
    maximum_attempts: int | None = Field(description="Attempts allowed; null = unlimited.")
    scheduled_at: datetime | None
    last_started_at: datetime | None
    last_heartbeat_at: datetime | None
    next_attempt_at: datetime | None = Field(description="When a retry is due, while waiting between attempts.")
    last_failure: str | None = Field(description="Message of the previous attempt's failure.")
    last_worker_identity: str | None


class JobMetadata(BaseModel):
    """Capstan's search attributes of the execution and where to look at it."""

    project_id: int | None = Field(description="Search attribute `CapstanProjectId`.")
    protocol_run_id: int | None = Field(description="Search attribute `CapstanProtocolRunId`.")
    run_kind: str | None = Field(description="Search attribute `CapstanRunKind` (`project_setup`, "
                                             "`protocol_run`, …).")
    run_status: str | None = Field(description="Search attribute `CapstanStatus`: the run's status as the "
                                               "workflow last recorded it.")
    temporal_status: str = Field(description="Temporal's execution status, e.g. `running`, `completed`, "
                                             "`timed_out`.")
    workflow_url: str = Field(description="The execution in the Temporal Web UI.")


class Job(BaseModel):
    id: str = Field(description="Workflow id.")
    run_id: str = Field(description="Workflow run id.")
    type: str = Field(description="Workflow type, e.g. `ProjectSetupWorkflow`.")
    job_type: str = Field(description="The documented job name: `project_setup_job`, or for a protocol run the job "
                                      "of its pending work (`execute_step_job`, …), else its run kind.")
    status: JobStatus
    task_queue: str
    queued_at: datetime = Field(description="When the execution was started (enqueued).")
    started_at: datetime | None = Field(description="When a worker first took it; null while queued.")
    finished_at: datetime | None = Field(description="When it closed; null while running.")
    activities: list[JobActivity] = Field(description="Pending activities (running jobs only), with attempts.")
    payload: Any = Field(description="The workflow input as JSON (the single argument; a list when there are "
                                     "several; null when it cannot be decoded).")
    metadata: JobMetadata
