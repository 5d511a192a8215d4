"""Task queues and jobs over HTTP, read from the real Temporal dev server.

Temporal visibility trails executions by a moment and there is no event to
await for it, so listings are re-read until they show what a test expects
(``eventually``, bounded).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime
from typing import Any

import httpx
import pytest
from temporalio.api.workflow.v1 import PendingActivityInfo
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowHandle
from temporalio.common import SearchAttributePair, TypedSearchAttributes

from api.app import create_app
from api.ops.services.jobs import job_status, jobs_query
from api.protocols.jobs import PROTOCOL_JOBS
from capstan.settings import ApiSettings, Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue, surface_task_queues
from models.common import search_attributes as sa
from models.ops.queues import JobStatus
from models.protocols.workflow_io import ProjectSetupInput, WorkflowName, project_setup_workflow_id
from tests.support import make_git_repo, workflow_result

VISIBILITY_WAIT = 30.0


async def eventually(read: Callable[[], Awaitable[Any]], holds: Callable[[Any], bool],
                     timeout: float = VISIBILITY_WAIT, interval: float = 0.1) -> Any:
    """Re-read until ``holds(value)``; Temporal visibility is eventually consistent."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        value = await read()
        if holds(value):
            return value
        if loop.time() > deadline:
            raise AssertionError(f"not true after {timeout}s; last value: {value!r}")
        await asyncio.sleep(interval)


def jobs_reader(api, **params) -> Callable[[], Awaitable[list[dict]]]:
    async def read() -> list[dict]:
        response = await api.get("/queues/jobs", params=params)
        assert response.status_code == 200, response.text
        return response.json()
    return read


def ids(jobs: list[dict]) -> list[str]:
    return [j["id"] for j in jobs]


async def queue_of(api, name: str) -> dict:
    response = await api.get("/queues")
    assert response.status_code == 200, response.text
    return next(q for q in response.json() if q["name"] == name)


async def start_unpolled_setup(client: Client, settings: Settings, project_id: int = 900001,
                               git_url: str = "/nowhere/repo") -> WorkflowHandle:
    """A setup workflow on the test's queue, started directly: nothing takes it without a worker."""
    return await client.start_workflow(
        WorkflowName.PROJECT_SETUP,
        ProjectSetupInput(project_id=project_id, protocol_run_id=project_id, git_url=git_url, base_branch="main"),
        id=f"queues-test-{uuid.uuid4().hex[:12]}",
        task_queue=surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS),
        search_attributes=TypedSearchAttributes([SearchAttributePair(sa.PROJECT_ID, project_id),
                                                 SearchAttributePair(sa.RUN_KIND, "project_setup")]))


@contextlib.asynccontextmanager
async def terminated_at_end(*handles: WorkflowHandle) -> AsyncIterator[None]:
    """Workflows no worker will ever finish are terminated when the test ends."""
    try:
        yield
    finally:
        for handle in handles:
            with contextlib.suppress(Exception):
                await handle.terminate("test over")


@contextlib.asynccontextmanager
async def silent_git_server() -> AsyncIterator[str]:
    """An HTTP address that accepts connections and never answers: a fetch from it hangs (and heartbeats)."""
    held: list[asyncio.StreamWriter] = []

    async def hold(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/repo.git"
    finally:
        for writer in held:
            writer.close()
        server.close()


# --- GET /queues ----------------------------------------------------------------------------------

async def test_queue_lists_the_workers_polling_it(api, worker, settings):
    name = surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS)
    queue = await eventually(lambda: queue_of(api, name),
                             lambda q: q["workflow_pollers"] >= 1 and q["activity_pollers"] >= 1)
    assert set(queue) == {"name", "pollers", "workflow_pollers", "activity_pollers", "backlog",
                          "backlog_age_seconds", "tasks_add_rate", "tasks_dispatch_rate", "workflow_tasks",
                          "activity_tasks"}
    poller = queue["pollers"][0]
    assert set(poller) == {"identity", "task_type", "last_access_time", "rate_per_second"}
    assert poller["identity"].startswith("capstan-worker@")
    assert {p["task_type"] for p in queue["pollers"]} == {"workflow", "activity"}
    assert datetime.fromisoformat(poller["last_access_time"])
    assert queue["workflow_tasks"]["pollers"] == queue["workflow_pollers"]
    assert queue["activity_tasks"]["pollers"] == queue["activity_pollers"]


async def test_queue_without_a_worker_has_no_pollers_and_shows_its_backlog(api, settings, temporal_client):
    name = surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS)
    queues = {q["name"]: q for q in (await api.get("/queues")).json()}
    assert set(queues) == set(surface_task_queues(settings.temporal))
    idle = queues[name]
    assert idle["pollers"] == [] and idle["workflow_pollers"] == 0 and idle["activity_pollers"] == 0
    assert idle["backlog"] == 0

    handle = await start_unpolled_setup(temporal_client, settings)
    async with terminated_at_end(handle):
        queue = await eventually(lambda: queue_of(api, name), lambda q: q["backlog"] >= 1)
        assert queue["workflow_tasks"]["backlog"] >= 1 and queue["activity_tasks"]["backlog"] == 0
        assert queue["backlog_age_seconds"] >= 0 and queue["pollers"] == []


# --- GET /queues/jobs -----------------------------------------------------------------------------

async def test_a_finished_setup_job_has_its_payload_and_metadata(api, worker, settings, temporal_client, tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    response = await api.post("/projects", json={"name": "demo", "git_url": str(repo), "base_branch": "main"})
    project = response.json()
    workflow_id = project_setup_workflow_id(project["id"])
    await workflow_result(temporal_client, workflow_id)

    finished = await eventually(jobs_reader(api, status="finished"), lambda jobs: workflow_id in ids(jobs))
    job = finished[ids(finished).index(workflow_id)]
    assert set(job) == {"id", "run_id", "type", "job_type", "status", "task_queue", "queued_at", "started_at",
                        "finished_at", "activities", "payload", "metadata"}
    assert job["type"] == "ProjectSetupWorkflow" and job["job_type"] == "project_setup_job"
    assert job["status"] == "finished"
    assert job["task_queue"] == surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS)
    assert job["activities"] == []
    assert job["payload"]["git_url"] == str(repo) and job["payload"]["project_id"] == project["id"]
    queued, started, ended = (datetime.fromisoformat(job[k]) for k in ("queued_at", "started_at", "finished_at"))
    assert queued <= started <= ended
    metadata = job["metadata"]
    assert metadata["project_id"] == project["id"] and metadata["run_kind"] == "project_setup"
    assert metadata["run_status"] == "completed" and metadata["temporal_status"] == "completed"
    assert metadata["workflow_url"] == (f"{settings.temporal.ui_url}/namespaces/default/workflows/"
                                        f"{workflow_id}/{job['run_id']}")

    assert workflow_id in ids((await api.get("/queues/jobs")).json())
    for other in ("queued", "started", "failed"):
        assert workflow_id not in ids(await jobs_reader(api, status=other)())


async def test_a_workflow_nobody_polls_is_queued_then_failed_when_terminated(api, settings, temporal_client):
    handle = await start_unpolled_setup(temporal_client, settings, project_id=900002, git_url="/srv/queued")
    async with terminated_at_end(handle):
        queued = await eventually(jobs_reader(api, status="queued"), lambda jobs: handle.id in ids(jobs))
        job = queued[ids(queued).index(handle.id)]
        assert job["status"] == "queued" and job["started_at"] is None and job["finished_at"] is None
        assert job["payload"]["git_url"] == "/srv/queued" and job["activities"] == []
        assert job["metadata"]["project_id"] == 900002 and job["metadata"]["temporal_status"] == "running"
        assert handle.id not in ids(await jobs_reader(api, status="started")())

        await handle.terminate("stop it")
        failed = await eventually(jobs_reader(api, status="failed"), lambda jobs: handle.id in ids(jobs))
        job = failed[ids(failed).index(handle.id)]
        assert job["status"] == "failed" and job["metadata"]["temporal_status"] == "terminated"
        assert job["finished_at"] is not None and job["payload"]["git_url"] == "/srv/queued"
        assert handle.id not in ids(await jobs_reader(api, status="queued")())


async def test_a_project_created_without_a_worker_is_a_queued_job(api, settings, temporal_client, tmp_path):
    project = (await api.post("/projects", json={"name": "q", "git_url": str(tmp_path / "r")})).json()
    handle = temporal_client.get_workflow_handle(project_setup_workflow_id(project["id"]))
    async with terminated_at_end(handle):
        jobs = await eventually(jobs_reader(api, status="queued"), lambda jobs: handle.id in ids(jobs))
        assert jobs[0]["job_type"] == "project_setup_job" and jobs[0]["metadata"]["run_status"] == "pending"


async def test_a_job_whose_activity_runs_is_started_with_its_attempt(api, worker, settings, temporal_client):
    async with silent_git_server() as git_url:
        project = (await api.post("/projects", json={"name": "slow", "git_url": git_url})).json()
        handle = temporal_client.get_workflow_handle(project_setup_workflow_id(project["id"]))
        async with terminated_at_end(handle):
            def fetching(jobs: list[dict]) -> bool:  # past the first record write, into the fetch
                return any(j["id"] == handle.id and any(a["activity_type"] == "fetch_repository"
                                                        for a in j["activities"]) for j in jobs)

            started = await eventually(jobs_reader(api, status="started"), fetching)
            job = started[ids(started).index(handle.id)]
            assert job["status"] == "started" and job["started_at"] is not None and job["finished_at"] is None
            fetch = next(a for a in job["activities"] if a["activity_type"] == "fetch_repository")
            assert fetch["state"] == "started" and fetch["attempt"] == 1 and fetch["maximum_attempts"] == 3
            assert fetch["last_worker_identity"].startswith("capstan-worker@")
            assert fetch["last_started_at"] is not None
            assert job["payload"]["git_url"] == git_url
            assert handle.id not in ids(await jobs_reader(api, status="queued")())


async def test_jobs_are_newest_first_and_paginated(api, settings, temporal_client):
    older = await start_unpolled_setup(temporal_client, settings, project_id=900003)
    newer = await start_unpolled_setup(temporal_client, settings, project_id=900004)
    async with terminated_at_end(older, newer):
        expected = [newer.id, older.id]
        for status in (None, "queued"):
            params = {"status": status} if status else {}
            assert ids(await eventually(jobs_reader(api, **params), lambda jobs: len(jobs) == 2)) == expected
            assert ids(await jobs_reader(api, **params, limit=1)()) == [newer.id]
            assert ids(await jobs_reader(api, **params, limit=1, offset=1)()) == [older.id]
            assert ids(await jobs_reader(api, **params, offset=2)()) == []


# --- errors and auth ------------------------------------------------------------------------------

@pytest.mark.parametrize("params", [{"status": "running"}, {"status": ""}, {"limit": 0}, {"limit": 501},
                                    {"limit": "many"}, {"offset": -1}])
async def test_bad_parameters_are_400(api, params):
    response = await api.get("/queues/jobs", params=params)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["error"] == "validation_error" and set(body) >= {"detail", "request_id", "fields"}
    assert body["fields"][0]["field"] == f"query.{next(iter(params))}"


async def test_both_routes_need_the_bearer_token(api_factory, settings):
    guarded = Settings(**{**vars(settings), "api": ApiSettings(api_token="t")})
    async with api_factory(guarded) as api:
        for path in ("/queues", "/queues/jobs"):
            assert (await api.get(path)).status_code == 401
            assert (await api.get(path, headers={"Authorization": "Bearer wrong"})).status_code == 401
            assert (await api.get(path, headers={"Authorization": "Bearer t"})).status_code == 200


async def test_unreachable_temporal_is_503(settings):
    from capstan.devstack.ports import free_port

    unreachable = await Client.connect(f"127.0.0.1:{free_port()}", lazy=True)
    app = create_app(settings, temporal_client=unreachable)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://capstan.test") as api:
            for path in ("/queues", "/queues/jobs"):
                response = await api.get(path)
                assert response.status_code == 503, response.text
                assert response.json()["error"] == "temporal_unavailable"
                assert "unreachable" in response.json()["detail"]


# --- the rules, without a server ------------------------------------------------------------------

def _activity(state: int) -> PendingActivityInfo:
    return PendingActivityInfo(activity_id="1", state=state)


@pytest.mark.parametrize("execution, states, taken, expected", [
    (WorkflowExecutionStatus.COMPLETED, [], True, JobStatus.FINISHED),
    (WorkflowExecutionStatus.FAILED, [], True, JobStatus.FAILED),
    (WorkflowExecutionStatus.TIMED_OUT, [], True, JobStatus.FAILED),
    (WorkflowExecutionStatus.TERMINATED, [], False, JobStatus.FAILED),
    (WorkflowExecutionStatus.CANCELED, [], True, JobStatus.FAILED),
    (WorkflowExecutionStatus.RUNNING, [], False, JobStatus.QUEUED),
    (WorkflowExecutionStatus.RUNNING, [], True, JobStatus.STARTED),
    (WorkflowExecutionStatus.RUNNING, [1], True, JobStatus.QUEUED),       # scheduled
    (WorkflowExecutionStatus.RUNNING, [4], True, JobStatus.QUEUED),       # paused
    (WorkflowExecutionStatus.RUNNING, [1, 2], True, JobStatus.STARTED),   # one started
    (WorkflowExecutionStatus.RUNNING, [3], True, JobStatus.STARTED),      # cancel requested
])
def test_job_status_rules(execution, states, taken, expected):
    assert job_status(execution, [_activity(s) for s in states], taken) == expected


@pytest.mark.parametrize("name, job_type", [
    ("plan_protocol", "plan_protocol_job"), ("execute_step", "execute_step_job"), ("run_qa", "run_quality_job"),
    ("ensure_protocol_branch", "open_pr_job"), ("open_pull_request", "open_pr_job"),
    ("fetch_repository", "fetch_repository"), ("write_run_records", None), ("create_step_runs", None),
])
def test_activity_job_types(name, job_type):
    assert PROTOCOL_JOBS.activity_job_type(name) == job_type


def test_jobs_query():
    assert jobs_query(["capstan"], None) == "TaskQueue = 'capstan' AND ExecutionStatus != 'ContinuedAsNew'"
    assert jobs_query(["a", "b'c"], JobStatus.FINISHED) == (
        "TaskQueue IN ('a', 'b\\'c') AND ExecutionStatus = 'Completed'")
    assert jobs_query(["a"], JobStatus.FAILED) == (
        "TaskQueue = 'a' AND ExecutionStatus IN ('Failed', 'TimedOut', 'Terminated', 'Canceled')")
    assert jobs_query(["a"], JobStatus.QUEUED) == jobs_query(["a"], JobStatus.STARTED) == (
        "TaskQueue = 'a' AND ExecutionStatus = 'Running'")
