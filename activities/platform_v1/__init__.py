"""The platform API v1 surface's activities, built on one worker process's shared resources."""

from __future__ import annotations

from collections.abc import Callable

from activities.common.resources import WorkerResources
from activities.platform_v1.executions import ExecutionActivities
from activities.platform_v1.jobs import JobActivities
from activities.platform_v1.outbox import OutboxActivities


def platform_v1_activities(resources: WorkerResources) -> list[Callable]:
    """Every activity of ``PLATFORM_V1_WORKFLOWS``, on the platform_v1 task queue."""
    outbox = OutboxActivities(resources.sessions, resources.secret_box, resources.settings.platform)
    executions = ExecutionActivities(resources.sessions, resources.secret_box)
    jobs = JobActivities(resources.sessions, resources.secret_box)
    return [
        outbox.deliver_due_events, outbox.send_test_notification,
        executions.record_platform_execution_queued, executions.record_platform_execution_running,
        executions.record_platform_execution_ended, executions.call_platform_agent,
        executions.check_platform_smoke_database,
        jobs.record_platform_job_queued, jobs.record_platform_job_ended, jobs.run_platform_import,
        jobs.run_platform_export, jobs.call_platform_accounting, jobs.apply_platform_accounting,
    ]
