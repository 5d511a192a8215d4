"""Records Postgres refuses never jam a run: the action that brought them fails at once, the work
that found them blocks the run, an event says why, and the run goes on taking actions."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from temporalio import activity
from temporalio.client import WorkflowUpdateFailedError
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from activities.protocols import protocol_activities
from activities.protocols.records import RecordActivities
from capstan.settings import TemporalSettings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.protocols.workflow_io import (
    ActionResult,
    ActivityName,
    CiOutcome,
    CiReport,
    NewStep,
    RunRecordsResult,
    RunRecordsWrite,
    Signal,
    Update,
    UpdateErrorType,
    protocol_run_workflow_id,
)
from tests.e2e.protocols.support import (
    add_step,
    create_project,
    create_run,
    event_types,
    status_of,
    step_file,
    step_statuses,
)
from tests.support import assert_error, settle
from worker.main import SANDBOX, WorkerResources, serve_surfaces
from workflows.protocols import PROTOCOL_WORKFLOWS

TOO_BIG = 2**31  # one past what step_runs.step_index (integer) holds


async def latest_event(api, rid: int) -> dict:
    return (await api.get(f"/protocols/{rid}/events")).json()[0]


async def test_a_step_postgres_refuses_fails_its_update_at_once_and_the_run_goes_on(api, worker, temporal_client,
                                                                                   tmp_path):
    _, project = await create_project(api, tmp_path)
    rid = (await create_run(api, project["id"]))["id"]
    handle = temporal_client.get_workflow_handle(protocol_run_workflow_id(rid))
    # Straight to the workflow, past whatever the API checks: the write itself is refused.
    with pytest.raises(WorkflowUpdateFailedError) as failed:
        await asyncio.wait_for(handle.execute_update(Update.ADD_STEPS, [NewStep(step_index=TOO_BIG, step_name="huge")],
                                                     result_type=ActionResult), 30)
    assert isinstance(failed.value.cause, ApplicationError)
    assert failed.value.cause.type == UpdateErrorType.RECORD_REJECTED
    assert "integer out of range" in failed.value.cause.message
    rejected = await latest_event(api, rid)
    assert rejected["event_type"] == "record_rejected" and "integer out of range" in rejected["message"]
    assert rejected["metadata"]["step_indexes"] == [TOO_BIG]

    response = await asyncio.wait_for(api.post(f"/protocols/{rid}/steps",
                                               json={"step_index": TOO_BIG, "step_name": "huge"}), 30)
    assert_error(response, 400)
    assert await step_statuses(api, rid) == []
    step = await add_step(api, rid, 0)
    assert (await api.post(f"/steps/{step['id']}/actions/approve")).status_code == 200
    assert await step_statuses(api, rid) == ["completed"]
    assert await status_of(api, rid) == "completed"


async def test_a_run_jammed_by_a_write_retried_forever_is_recovered_by_cancel(api, settings, temporal_client,
                                                                             tmp_path):
    resources = WorkerResources(settings)
    unguarded = RecordActivities.record_run_changes.__wrapped__
    refusals: asyncio.Queue[BaseException] = asyncio.Queue()

    fixed = False

    @activity.defn(name=ActivityName.RECORD_RUN_CHANGES)
    async def record_run_changes_before_the_fix(write: RunRecordsWrite) -> RunRecordsResult:
        """The write as it was: Postgres's refusal raised as it comes, so it is retried forever. A worker
        does not stop while its local activity retries, so the fix reaches this worker's process too."""
        if fixed:
            return await RecordActivities(resources.sessions).record_run_changes(write)
        try:
            return await unguarded(RecordActivities(resources.sessions), write)
        except Exception as error:
            refusals.put_nowait(error)
            raise

    activities = [a for a in protocol_activities(resources) if a.__name__ != "record_run_changes"]
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS)
    before_the_fix = Worker(temporal_client, task_queue=queue, workflows=PROTOCOL_WORKFLOWS, workflow_runner=SANDBOX,
                            activities=[*activities, record_run_changes_before_the_fix])
    jammed: asyncio.Task | None = None
    try:
        async with before_the_fix:
            _, project = await create_project(api, tmp_path)
            rid = (await create_run(api, project["id"]))["id"]
            handle = temporal_client.get_workflow_handle(protocol_run_workflow_id(rid))
            jammed = asyncio.create_task(handle.execute_update(
                Update.ADD_STEPS, [NewStep(step_index=TOO_BIG, step_name="huge")], result_type=ActionResult))
            for _ in range(2):  # refused, retried, refused again: the jam of the issue
                assert "integer out of range" in str(await asyncio.wait_for(refusals.get(), 30))
            fixed = True

        async with serve_surfaces(temporal_client, settings, resources):  # the fixed build takes over
            cancelled = await asyncio.wait_for(api.post(f"/protocols/{rid}/actions/cancel"), 60)
            assert cancelled.status_code == 200, cancelled.text
            with pytest.raises(WorkflowUpdateFailedError) as failed:
                await asyncio.wait_for(jammed, 30)
            assert failed.value.cause.type == UpdateErrorType.RECORD_REJECTED
            assert await settle(temporal_client, rid) == "cancelled"
    finally:
        if jammed is not None and not jammed.done():
            jammed.cancel()
        await resources.close()
    assert await status_of(api, rid) == "cancelled" and await step_statuses(api, rid) == []
    assert (await event_types(api, rid))[-2:] == ["record_rejected", "protocol_cancelled"]


async def test_step_files_postgres_refuses_block_planning_with_an_event(api, worker, temporal_client, tmp_path):
    long_name = "01-" + "a" * 220 + ".md"  # a legal file name, longer than step_runs.step_name holds
    _, project = await create_project(api, tmp_path, {f".protocols/0001-demo/{long_name}": step_file("echo hi")})
    rid = (await create_run(api, project["id"]))["id"]
    assert (await api.post(f"/protocols/{rid}/actions/start")).status_code == 200
    assert await settle(temporal_client, rid, timeout=60) == "blocked"
    rejected = await latest_event(api, rid)
    assert rejected["event_type"] == "record_rejected" and rejected["metadata"]["job"] == "plan_protocol_job"
    assert rejected["message"].startswith("Planning failed") and "value too long" in rejected["message"]
    assert await step_statuses(api, rid) == []
    await add_step(api, rid, 0)  # the run still takes actions
    assert (await api.post(f"/protocols/{rid}/actions/cancel")).status_code == 200
    assert await step_statuses(api, rid) == ["cancelled"]


async def test_a_ci_report_postgres_refuses_is_applied_and_explained(api, worker, temporal_client, tmp_path):
    remote, project = await create_project(api, tmp_path, {".protocols/0001-demo/01.md": step_file("echo 1 > a")})
    rid = (await create_run(api, project["id"]))["id"]
    await api.post(f"/protocols/{rid}/actions/start")
    assert await settle(temporal_client, rid) == "planned"
    await api.post(f"/protocols/{rid}/actions/run_next_step")
    await settle(temporal_client, rid)
    handle = temporal_client.get_workflow_handle(protocol_run_workflow_id(rid))
    # A NUL in the status: Postgres holds it neither in the event's text nor in its JSON metadata.
    await handle.signal(Signal.CI_REPORT, CiReport(outcome=CiOutcome.FAILURE, source="gitlab", event_name="pipeline",
                                                    status="fail\x00ed", delivery_id="nul-1"))
    assert await settle(temporal_client, rid, timeout=60) == "blocked"
    assert await step_statuses(api, rid) == ["failed"]  # the report took effect
    rejected = await latest_event(api, rid)
    assert rejected["event_type"] == "record_rejected" and rejected["metadata"]["refused_events"] == ["ci_failed"]
    assert rejected["step_run_id"] is not None and "\x00" not in rejected["message"]
    assert (await api.post(f"/protocols/{rid}/actions/retry_latest")).status_code == 200
    await settle(temporal_client, rid)
    assert await step_statuses(api, rid) == ["needs_qa"]


async def test_an_action_the_run_cannot_finish_in_time_is_503_with_retry_after_and_applied_later(
        settings, api_factory, db_engine, worker, temporal_client, tmp_path):
    # Past the worker's workflow-task heartbeat (8 s of the 10 s task timeout): a write still waiting
    # then has reported the action accepted.
    impatient = type(settings)(**{**vars(settings), "temporal": TemporalSettings(
        address=settings.temporal.address, task_queue=settings.temporal.task_queue, update_timeout_seconds=10)})
    async with api_factory(impatient) as api:
        _, project = await create_project(api, tmp_path)
        rid = (await create_run(api, project["id"]))["id"]
        async with db_engine.connect() as holder:  # holds the run's row: the workflow's write waits for it
            await holder.execute(text("SELECT id FROM protocol_runs WHERE id = :id FOR UPDATE"), {"id": rid})
            response = await asyncio.wait_for(api.post(f"/protocols/{rid}/actions/pause"), 20)
            await holder.rollback()
        assert_error(response, 503, "action_pending")
        assert response.headers["Retry-After"].isdigit()
        # The pause is recorded once the write can go through; a client that honours Retry-After then sees
        # it (an action is checked against the record, so one sent before the record shows it is a 409).
        assert await settle(temporal_client, rid) == "paused"
        resumed = await asyncio.wait_for(api.post(f"/protocols/{rid}/actions/resume"), 10)
        assert resumed.status_code == 200, resumed.text
        assert (await event_types(api, rid))[-2:] == ["protocol_paused", "protocol_resumed"]
