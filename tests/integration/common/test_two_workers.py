"""Two ``capstan worker`` processes on one task queue share the work."""

from __future__ import annotations

import asyncio

from temporalio.api.enums.v1 import EventType, TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.protocols.workflow_io import project_setup_workflow_id
from tests.integration.workers import start_worker, stop_worker, worker_env
from tests.support import make_git_repo, workflow_result

PROJECTS = 24


async def pollers(client, task_queue: str) -> set[str]:
    response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
        namespace=client.namespace, task_queue=TaskQueue(name=task_queue),
        task_queue_type=TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY))
    return {p.identity for p in response.pollers}


async def test_two_workers_share_setup_runs(api, settings, temporal_client, tmp_path):
    repo = make_git_repo(tmp_path / "repo")
    workers = [start_worker(worker_env(settings, tmp_path / f"cache-{i}"), tmp_path / f"worker-{i}.log")
               for i in range(2)]
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS)
    try:
        async with asyncio.timeout(60):
            while len(await pollers(temporal_client, queue)) < 2:
                await asyncio.sleep(0.2)  # no event announces a new poller; ask the server again
        ids = [(await api.post("/projects", json={"name": f"p{i}", "git_url": str(repo)})).json()["id"]
               for i in range(PROJECTS)]
        await asyncio.gather(*(workflow_result(temporal_client, project_setup_workflow_id(i)) for i in ids))
        identities: set[str] = set()
        for project_id in ids:
            history = await temporal_client.get_workflow_handle(project_setup_workflow_id(project_id)).fetch_history()
            identities |= {e.activity_task_started_event_attributes.identity for e in history.events
                           if e.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED}
    finally:
        for proc in workers:
            stop_worker(proc)
    assert len(identities) == 2, identities
    runs = [(await api.get(f"/projects/{i}/protocols")).json()[0]["status"] for i in ids]
    assert runs == ["completed"] * PROJECTS
