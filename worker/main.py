"""Worker entry point.

A worker process serves a chosen set of worker surfaces (``worker.registry``; all by default), with
one Temporal ``Worker`` per surface on that surface's task queue, all sharing the process's resources.
Any number of identical ``capstan worker`` processes share a queue's work. Activities are stateless
(git state lives on the remote), so it does not matter which worker takes which.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import threading
from collections.abc import AsyncIterator, Sequence
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.common.resources import WorkerResources
from capstan.settings import Settings
from capstan.telemetry import temporal_interceptors, tracer_provider
from capstan.temporal import connect
from worker.registry import WORKER_SURFACES, WorkerSurface
from worker.schedules import ensure_schedules

log = logging.getLogger(__name__)

__all__ = ["SANDBOX", "WorkerResources", "build_worker", "run_worker", "serve_surfaces"]

# Our models and pydantic are deterministic and heavy to import: load them once, not per run.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "models", "pydantic", "pydantic_core", "yaml", "opentelemetry"))


def build_worker(client: Client, settings: Settings, resources: WorkerResources, surface: WorkerSurface) -> Worker:
    """The Temporal worker of one surface: its workflows and activities on its task queue."""
    return Worker(
        client,
        task_queue=surface.task_queue(settings.temporal),
        workflows=list(surface.workflows),
        activities=list(surface.activities(resources)),
        workflow_runner=SANDBOX,
        max_concurrent_activities=settings.worker.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker.max_concurrent_workflow_tasks,
        identity=f"capstan-worker@{socket.gethostname()}:{os.getpid()}",
        graceful_shutdown_timeout=timedelta(seconds=settings.worker.shutdown_timeout_seconds),
    )


@contextlib.asynccontextmanager
async def serve_surfaces(client: Client, settings: Settings, resources: WorkerResources,
                         surfaces: Sequence[WorkerSurface] | None = None, *,
                         schedules: bool = False) -> AsyncIterator[list[Worker]]:
    """Run one worker per surface (every registered surface by default) until the block ends; with
    ``schedules``, create or update the surfaces' Temporal Schedules once the workers poll."""
    chosen = WORKER_SURFACES if surfaces is None else surfaces
    async with contextlib.AsyncExitStack() as stack:
        workers = [await stack.enter_async_context(build_worker(client, settings, resources, surface))
                   for surface in chosen]
        if schedules:
            await ensure_schedules(client, [surface.schedules(settings) for surface in chosen])
        yield workers


#: What a stopping worker gets beyond its shutdown timeout before it exits anyway.
SHUTDOWN_MARGIN_SECONDS = 10.0


def exit_if_still_stopping(after_seconds: float) -> None:
    """Exit the process if it has not stopped within ``after_seconds``.

    The SDK does not stop a worker while one of its local activities retries (a record write while
    Postgres is down), even past the shutdown timeout. Exiting loses nothing: the server gives the
    workflow task to another worker, which runs the write again under the same dedupe keys.
    """

    def exit_now() -> None:
        log.error("worker did not stop within %.0fs (a local activity still retrying?); exiting", after_seconds)
        logging.shutdown()
        os._exit(1)

    timer = threading.Timer(after_seconds, exit_now)
    timer.daemon = True
    timer.start()


def make_runtime(metrics_port: int) -> Runtime | None:
    if not metrics_port:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}")))


async def run_worker(settings: Settings, surfaces: Sequence[WorkerSurface]) -> None:
    tracing = tracer_provider(settings.telemetry, "worker")
    client = await connect(settings.temporal, runtime=make_runtime(settings.worker.metrics_port),
                           interceptors=temporal_interceptors(tracing))
    resources = WorkerResources(settings, temporal=client)
    sandbox = await asyncio.to_thread(lambda: resources.sandbox.status)
    if sandbox.usable:
        log.info("repository code runs in sandbox mode %s", sandbox.detail)
    else:
        log.error("no sandbox for repository code: steps and QA fail until one can run: %s", sandbox.detail)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with serve_surfaces(client, settings, resources, surfaces, schedules=True):
        log.info("worker polling task queue(s) %s on %s",
                 ", ".join(repr(s.task_queue(settings.temporal)) for s in surfaces), settings.temporal.address)
        await stop.wait()
        log.info("worker stopping: finishing in-flight tasks")
        exit_if_still_stopping(settings.worker.shutdown_timeout_seconds + SHUTDOWN_MARGIN_SECONDS)
    await resources.close()
    if tracing is not None:
        tracing.shutdown()
