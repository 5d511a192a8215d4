"""Worker entry point.

One task queue (``CAPSTAN_TEMPORAL_TASK_QUEUE``) carries every Capstan workflow
and activity, so any number of identical ``capstan worker`` processes share the
work. Activities are stateless (git state lives on the remote), so it does not
matter which worker takes which.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import socket
from datetime import timedelta

from temporalio.client import Client
from temporalio.runtime import PrometheusConfig, Runtime, TelemetryConfig
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from activities.common.git import GitActivities, GitRunner, RepositoryCache
from activities.common.sandbox import Sandbox
from activities.protocols.artifacts import ArtifactStore
from activities.protocols.engines import engine_registry
from activities.protocols.forge import ForgeActivities
from activities.protocols.records import RecordActivities
from activities.protocols.workspace import WorkspaceActivities
from capstan.db import create_engine, create_session_factory
from capstan.secrets import SecretBox
from capstan.settings import Settings, secret_value
from capstan.telemetry import temporal_interceptors, tracer_provider
from capstan.temporal import connect
from workflows.protocols.project_setup import ProjectSetupWorkflow
from workflows.protocols.protocol_run import ProtocolRunWorkflow

log = logging.getLogger(__name__)

WORKFLOWS = [ProjectSetupWorkflow, ProtocolRunWorkflow]

# Our models and pydantic are deterministic and heavy to import: load them once, not per run.
SANDBOX = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules(
        "models", "pydantic", "pydantic_core", "yaml", "opentelemetry"))


class WorkerResources:
    """What the activities need, made once per process and closed on shutdown."""

    def __init__(self, settings: Settings) -> None:
        self.engine = create_engine(settings.database)
        sessions = create_session_factory(self.engine)
        cache = RepositoryCache(settings.worker.git_cache_dir.resolve(),
                                GitRunner(settings.worker.git_binary, settings.worker.git_author_name,
                                          settings.worker.git_author_email))
        self.records = RecordActivities(sessions)
        self.forge = ForgeActivities(sessions, settings.forge, SecretBox(secret_value(settings.secrets.key)))
        self.git = GitActivities(cache)
        self.sandbox = Sandbox(settings.sandbox)
        self.workspace = WorkspaceActivities(cache, ArtifactStore(sessions),
                                             engine_registry(settings.execution.command_engine), self.sandbox)

    @property
    def activities(self) -> list:
        """Every activity this worker runs, all on the one task queue."""
        return [
            self.records.write_run_records, self.records.create_step_runs,
            self.git.fetch_repository,
            self.workspace.plan_protocol, self.workspace.execute_step, self.workspace.run_qa,
            self.workspace.ensure_protocol_branch,
            self.forge.open_pull_request,
        ]

    async def close(self) -> None:
        await self.engine.dispose()


def build_worker(client: Client, settings: Settings, resources: WorkerResources,
                 task_queue: str | None = None) -> Worker:
    return Worker(
        client,
        task_queue=task_queue or settings.temporal.task_queue,
        workflows=WORKFLOWS,
        activities=resources.activities,
        workflow_runner=SANDBOX,
        max_concurrent_activities=settings.worker.max_concurrent_activities,
        max_concurrent_workflow_tasks=settings.worker.max_concurrent_workflow_tasks,
        identity=f"capstan-worker@{socket.gethostname()}:{os.getpid()}",
        graceful_shutdown_timeout=timedelta(seconds=settings.worker.shutdown_timeout_seconds),
    )


def make_runtime(metrics_port: int) -> Runtime | None:
    if not metrics_port:
        return None
    return Runtime(telemetry=TelemetryConfig(metrics=PrometheusConfig(bind_address=f"0.0.0.0:{metrics_port}")))


async def run_worker(settings: Settings) -> None:
    tracing = tracer_provider(settings.telemetry, "worker")
    client = await connect(settings.temporal, runtime=make_runtime(settings.worker.metrics_port),
                           interceptors=temporal_interceptors(tracing))
    resources = WorkerResources(settings)
    sandbox = await asyncio.to_thread(lambda: resources.sandbox.status)
    if sandbox.usable:
        log.info("repository code runs in sandbox mode %s", sandbox.detail)
    else:
        log.error("no sandbox for repository code: steps and QA fail until one can run: %s", sandbox.detail)
    worker = build_worker(client, settings, resources)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    log.info("worker polling task queue %r on %s", settings.temporal.task_queue, settings.temporal.address)
    async with worker:
        await stop.wait()
        log.info("worker stopping: finishing in-flight tasks")
    await resources.close()
    if tracing is not None:
        tracing.shutdown()
