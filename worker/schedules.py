"""Temporal Schedules of the worker surfaces: background work that runs once per cluster, not once
per API process, and shows in the Web UI (Schedules). A worker serving a surface creates its
schedules when it starts, or updates them to the current definition (an operator's pause is kept);
any number of workers may do so at once.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from temporalio.client import (
    Client,
    Schedule,
    ScheduleActionStartWorkflow,
    ScheduleAlreadyRunningError,
    ScheduleIntervalSpec,
    ScheduleOverlapPolicy,
    SchedulePolicy,
    ScheduleSpec,
    ScheduleState,
    ScheduleUpdate,
    ScheduleUpdateInput,
)

from capstan.settings import TemporalSettings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.protocols.workflow_io import LostSetupSweep, WorkflowName

log = logging.getLogger(__name__)

LOST_SETUP_EVERY = timedelta(seconds=30)
#: A sweep that cannot finish (no worker polls the queue) ends, so SKIP does not skip every later one.
LOST_SETUP_TIMEOUT = timedelta(minutes=5)


@dataclass(frozen=True)
class SurfaceSchedule:
    schedule_id: str
    schedule: Schedule


def lost_setup_schedule_id(settings: TemporalSettings) -> str:
    """``capstan-protocols-reconcile`` with the default task queue prefix."""
    return f"{surface_task_queue(settings, WorkerSurfaceName.PROTOCOLS)}-reconcile"


def protocol_schedules(settings: TemporalSettings) -> list[SurfaceSchedule]:
    queue = surface_task_queue(settings, WorkerSurfaceName.PROTOCOLS)
    schedule_id = lost_setup_schedule_id(settings)
    return [SurfaceSchedule(schedule_id, Schedule(
        action=ScheduleActionStartWorkflow(WorkflowName.LOST_SETUP_RECONCILE, LostSetupSweep(), id=schedule_id,
                                           task_queue=queue, execution_timeout=LOST_SETUP_TIMEOUT),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=LOST_SETUP_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="Starts project setup workflows whose start was lost; kept by capstan worker."),
    ))]


async def ensure_schedules(client: Client, schedules: Iterable[SurfaceSchedule]) -> None:
    """Create each schedule, or bring an existing one to this definition."""
    for wanted in schedules:
        try:
            await client.create_schedule(wanted.schedule_id, wanted.schedule)
            log.info("created schedule %s", wanted.schedule_id)
        except ScheduleAlreadyRunningError:
            def keep_state(current: ScheduleUpdateInput, wanted: SurfaceSchedule = wanted) -> ScheduleUpdate:
                return ScheduleUpdate(dataclasses.replace(wanted.schedule, state=current.description.schedule.state))

            await client.get_schedule_handle(wanted.schedule_id).update(keep_state)
