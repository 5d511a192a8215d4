"""A setup whose workflow start was lost (API killed after the commit) is started by the lost-setup
Temporal Schedule a protocols worker creates, once, however many sweeps run."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import timedelta

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, ScheduleHandle, ScheduleOverlapPolicy
from temporalio.service import RPCError, RPCStatusCode

from activities.common.resources import WorkerResources
from capstan.db import create_session_factory, session_scope
from models.common.base import utcnow
from models.protocols.project import Project
from models.protocols.protocol import ProtocolRun
from models.protocols.workflow_io import WorkflowName, project_setup_workflow_id
from tests.support import make_git_repo, workflow_result
from worker.main import serve_surfaces
from worker.schedules import LOST_SETUP_EVERY, lost_setup_schedule_id


async def triggered_sweep(client: Client, schedule: ScheduleHandle, timeout: float = 30.0) -> int:
    """Trigger the schedule now and return what the sweep it started returned (setups it started).
    Temporal gives no event for "the triggered action started", so its description is read until it shows."""
    # A scheduled run's workflow id ends in the second it starts at: two in one second collide and the
    # second one is held back, so a trigger waits for the next second.
    await asyncio.sleep(1.05 - time.time() % 1)
    before = {a.action.workflow_id for a in (await schedule.describe()).info.recent_actions}
    await schedule.trigger(overlap=ScheduleOverlapPolicy.ALLOW_ALL)
    async with asyncio.timeout(timeout):
        while True:
            actions = (await schedule.describe()).info.recent_actions
            new = [a.action.workflow_id for a in actions if a.action.workflow_id not in before]
            if new:
                return await workflow_result(client, new[-1], timeout)
            await asyncio.sleep(0.1)


async def setup_started(client: Client, project_id: int) -> bool:
    try:
        await client.get_workflow_handle(project_setup_workflow_id(project_id)).describe()
    except RPCError as exc:
        if exc.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def test_lost_setup_starts_are_recovered_once_by_the_schedule(settings, db_engine, temporal_client, tmp_path):
    sessions = create_session_factory(db_engine)
    async with session_scope(sessions) as session:  # what create_project commits before starting the workflow
        project = Project(name="lost", git_url=str(make_git_repo(tmp_path / "repo")))
        session.add(project)
        await session.flush()
        session.add(ProtocolRun(project_id=project.id, protocol_name=f"setup-{project.id}",
                                workflow_id=project_setup_workflow_id(project.id),
                                created_at=utcnow() - timedelta(minutes=1)))
        fresh = Project(name="just-created", git_url="/nowhere")
        session.add(fresh)
        await session.flush()
        session.add(ProtocolRun(project_id=fresh.id, protocol_name=f"setup-{fresh.id}",
                                workflow_id=project_setup_workflow_id(fresh.id)))

    resources = WorkerResources(settings, temporal=temporal_client)
    schedule = temporal_client.get_schedule_handle(lost_setup_schedule_id(settings.temporal))
    try:
        async with serve_surfaces(temporal_client, settings, resources, schedules=True):
            described = await schedule.describe()  # the worker created it: once per cluster, in the Web UI
            assert described.schedule.action.workflow == WorkflowName.LOST_SETUP_RECONCILE
            assert described.schedule.spec.intervals[0].every == LOST_SETUP_EVERY
            assert described.schedule.policy.overlap == ScheduleOverlapPolicy.SKIP

            assert await triggered_sweep(temporal_client, schedule) == 1  # the fresh one is in its grace period
            result = await workflow_result(temporal_client, project_setup_workflow_id(project.id))
            assert result["status"] == "completed"
            assert await triggered_sweep(temporal_client, schedule) == 0  # no longer pending
            assert not await setup_started(temporal_client, fresh.id)

        history = await temporal_client.get_workflow_handle(project_setup_workflow_id(project.id)).fetch_history()
        starts = [e for e in history.events if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED]
        assert len(starts) == 1
    finally:
        with contextlib.suppress(RPCError):
            await schedule.delete()  # its every-30-s sweeps would outlive this test's task queue
        await resources.close()


async def test_a_restarted_or_second_worker_keeps_an_operators_pause(settings, temporal_client, tmp_path):
    resources = WorkerResources(settings, temporal=temporal_client)
    schedule = temporal_client.get_schedule_handle(lost_setup_schedule_id(settings.temporal))
    try:
        async with serve_surfaces(temporal_client, settings, resources, schedules=True):
            await schedule.pause(note="operator: maintenance window")
        async with serve_surfaces(temporal_client, settings, resources, schedules=True):  # a restart, or a replica
            state = (await schedule.describe()).schedule.state
            assert state.paused and state.note == "operator: maintenance window"
    finally:
        with contextlib.suppress(RPCError):
            await schedule.delete()
        await resources.close()
