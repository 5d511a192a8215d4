"""Two ``capstan worker`` processes started with different ``--surfaces`` each poll only their surfaces' queues.

Capstan has one worker surface (``protocols``), so the second process also serves ``echo``, a surface
registered for tests only (``tests/integration/common/echo``) through the same command line.
"""

from __future__ import annotations

import asyncio
import uuid

from temporalio.api.enums.v1 import TaskQueueType
from temporalio.api.taskqueue.v1 import TaskQueue
from temporalio.api.workflowservice.v1 import DescribeTaskQueueRequest

from capstan.temporal import WorkerSurfaceName, surface_task_queue
from tests.integration.common.echo.workflow import EchoWorkflow
from tests.integration.workers import start_worker, stop_worker, worker_env

TASK_TYPES = (TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)


async def pollers(client, task_queue: str) -> set[str]:
    """The identities polling the queue for workflow or activity tasks."""
    found: set[str] = set()
    for task_type in TASK_TYPES:
        response = await client.workflow_service.describe_task_queue(DescribeTaskQueueRequest(
            namespace=client.namespace, task_queue=TaskQueue(name=task_queue), task_queue_type=task_type))
        found |= {p.identity for p in response.pollers}
    return found


def of_process(identities: set[str], pid: int) -> set[str]:
    return {identity for identity in identities if identity.endswith(f":{pid}")}


async def test_workers_poll_only_the_queues_of_their_surfaces(settings, temporal_client, tmp_path):
    protocols_queue = surface_task_queue(settings.temporal, WorkerSurfaceName.PROTOCOLS)
    echo_queue = surface_task_queue(settings.temporal, "echo")
    protocols_worker = start_worker(worker_env(settings, tmp_path / "cache-a"), tmp_path / "a.log",
                                    "--surfaces", "protocols", module="tests.integration.common.echo")
    echo_worker = start_worker(worker_env(settings, tmp_path / "cache-b", CAPSTAN_WORKER_SURFACES="protocols"),
                               tmp_path / "b.log", "--surfaces", "echo", module="tests.integration.common.echo")
    try:
        async with asyncio.timeout(60):
            # Both kinds of task on each queue, so a half-started worker is not mistaken for a settled one.
            while not (of_process(await pollers(temporal_client, protocols_queue), protocols_worker.pid)
                       and of_process(await pollers(temporal_client, echo_queue), echo_worker.pid)):
                await asyncio.sleep(0.2)  # no event announces a new poller; ask the server again
        echoed = await temporal_client.execute_workflow(
            EchoWorkflow.run, "hello", id=f"echo-{uuid.uuid4().hex[:12]}", task_queue=echo_queue)
        on_protocols = await pollers(temporal_client, protocols_queue)
        on_echo = await pollers(temporal_client, echo_queue)
    finally:
        for proc in (protocols_worker, echo_worker):
            stop_worker(proc)
    assert echoed == f"hello (from {echo_queue})"
    # --surfaces wins over CAPSTAN_WORKER_SURFACES, and a worker polls no queue it was not given.
    assert on_protocols == of_process(on_protocols, protocols_worker.pid) != set()
    assert on_echo == of_process(on_echo, echo_worker.pid) != set()
