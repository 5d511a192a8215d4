"""Temporal Schedules of the worker surfaces: background work that runs once per cluster, not once
per API process, and shows in the Web UI (Schedules). A worker serving a surface creates its
schedules when it starts, or updates them to the current definition (an operator's pause is kept);
any number of workers may do so at once.
"""

from __future__ import annotations

import contextlib
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
from temporalio.service import RPCError

from capstan.settings import Settings, TemporalSettings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.maintenance.feed_config import effective_interval_seconds, load_feed_sources
from models.maintenance.workflow_io import FeedPollRequest, feed_schedule_id, feed_schedule_prefix
from models.maintenance.workflow_io import WorkflowName as MaintenanceWorkflow
from models.platform_v1.outbox_io import OutboxWorkflowName, RelaySweep
from models.platform_v1.workflow_ids import outbox_relay_schedule_id
from models.protocols.workflow_io import LostSetupSweep, WorkflowName

log = logging.getLogger(__name__)

LOST_SETUP_EVERY = timedelta(seconds=30)
#: A sweep that cannot finish (no worker polls the queue) ends, so SKIP does not skip every later one.
LOST_SETUP_TIMEOUT = timedelta(minutes=5)
#: A feed poll that cannot finish ends, so the next one runs.
FEED_POLL_TIMEOUT = timedelta(minutes=10)
#: A relay sweep that cannot finish (no worker, Postgres down) ends, so SKIP does not skip every later one.
OUTBOX_RELAY_TIMEOUT = timedelta(minutes=5)


@dataclass(frozen=True)
class SurfaceSchedule:
    schedule_id: str
    schedule: Schedule
    #: Run once as soon as it is created (a feed source's first poll records its cursor at once).
    trigger_on_create: bool = False


@dataclass(frozen=True)
class SurfaceSchedules:
    """A surface's schedules, and the id prefixes it owns: an owned schedule no longer wanted
    (a feed source removed from the file) is deleted."""

    wanted: list[SurfaceSchedule]
    owned_prefixes: tuple[str, ...] = ()


def lost_setup_schedule_id(settings: TemporalSettings) -> str:
    """``capstan-protocols-reconcile`` with the default task queue prefix."""
    return f"{surface_task_queue(settings, WorkerSurfaceName.PROTOCOLS)}-reconcile"


def protocol_schedules(settings: Settings) -> SurfaceSchedules:
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS)
    schedule_id = lost_setup_schedule_id(settings.temporal)
    return SurfaceSchedules([SurfaceSchedule(schedule_id, Schedule(
        action=ScheduleActionStartWorkflow(WorkflowName.LOST_SETUP_RECONCILE, LostSetupSweep(), id=schedule_id,
                                           task_queue=queue, execution_timeout=LOST_SETUP_TIMEOUT),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=LOST_SETUP_EVERY)]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="Starts project setup workflows whose start was lost; kept by capstan worker."),
    ))])


def platform_v1_schedules(settings: Settings) -> SurfaceSchedules:
    """The outbox relay: one sweep every ``CAPSTAN_OUTBOX_SWEEP_SECONDS``, never two at once (the API's nudges
    trigger it in between, ``api.common.temporal_calls.nudge_schedule``)."""
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.PLATFORM_V1)
    schedule_id = outbox_relay_schedule_id(queue)
    return SurfaceSchedules([SurfaceSchedule(schedule_id, Schedule(
        action=ScheduleActionStartWorkflow(OutboxWorkflowName.OUTBOX_RELAY, RelaySweep(), id=schedule_id,
                                           task_queue=queue, execution_timeout=OUTBOX_RELAY_TIMEOUT),
        spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(
            seconds=settings.platform.outbox_sweep_seconds))]),
        policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
        state=ScheduleState(note="Delivers the platform API's outbox events (notifications); kept by capstan worker."),
    ))])


def maintenance_schedules(settings: Settings) -> SurfaceSchedules:
    """One schedule per feed source of the sources file, polling it every ``pollIntervalSeconds``."""
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.MAINTENANCE)
    sources = load_feed_sources(settings.patch.feed_sources_path)
    for error in sources.errors:
        log.error("feed sources: %s", error)
    wanted = []
    for source in sources.sources:
        schedule_id = feed_schedule_id(queue, source.id)
        wanted.append(SurfaceSchedule(schedule_id, Schedule(
            action=ScheduleActionStartWorkflow(MaintenanceWorkflow.FEED_POLL, FeedPollRequest(source_id=source.id),
                                               id=schedule_id, task_queue=queue, execution_timeout=FEED_POLL_TIMEOUT),
            spec=ScheduleSpec(intervals=[ScheduleIntervalSpec(every=timedelta(
                seconds=effective_interval_seconds(source)))]),
            policy=SchedulePolicy(overlap=ScheduleOverlapPolicy.SKIP),
            state=ScheduleState(note=f"Polls feed source {source.id} ({source.provider} {source.event}); "
                                     "kept by capstan worker from the feed sources file."),
        ), trigger_on_create=True))
    return SurfaceSchedules(wanted, owned_prefixes=(feed_schedule_prefix(queue),))


async def ensure_schedules(client: Client, schedules: Iterable[SurfaceSchedules]) -> None:
    """Create each wanted schedule, or bring an existing one to its definition; delete owned ones
    no longer wanted."""
    schedules = list(schedules)
    wanted_ids = {s.schedule_id for group in schedules for s in group.wanted}
    prefixes = tuple(prefix for group in schedules for prefix in group.owned_prefixes)
    for wanted in (s for group in schedules for s in group.wanted):
        try:
            await client.create_schedule(wanted.schedule_id, wanted.schedule,
                                         trigger_immediately=wanted.trigger_on_create)
            log.info("created schedule %s", wanted.schedule_id)
        except ScheduleAlreadyRunningError:
            def keep_state(current: ScheduleUpdateInput, wanted: SurfaceSchedule = wanted) -> ScheduleUpdate:
                return ScheduleUpdate(dataclasses.replace(wanted.schedule, state=current.description.schedule.state))

            await client.get_schedule_handle(wanted.schedule_id).update(keep_state)
    if prefixes:
        async for listed in await client.list_schedules():
            if listed.id.startswith(prefixes) and listed.id not in wanted_ids:
                with contextlib.suppress(RPCError):  # another worker deleted it first
                    await client.get_schedule_handle(listed.id).delete()
                    log.info("deleted schedule %s: its feed source is gone", listed.id)
