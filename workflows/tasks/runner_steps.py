"""The runner's part of ``CodingTaskWorkflow``: start it, wait for its result (or its exit, or the
watchdog), and end it. Whichever the runner, ending it comes before anything is recorded."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models.tasks.status import RunnerKind
    from models.tasks.workflow_io import (
        ActivityName,
        CodingTaskInput,
        RemoteRunner,
        RunnerExit,
        RunnerLaunch,
        RunnerResult,
    )
    from workflows.common.failures import failure_reason, raise_if_cancelled
    from workflows.common.retry import bounded_retry

GITHUB_TIMEOUT = timedelta(seconds=60)
GITHUB_RETRY = bounded_retry(4)
#: A runner process lost with its worker is started again (its branch belongs to the execution, so
#: the second push replaces the first); an agent that fails reports it and is not retried.
RUNNER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)


class RunnerSteps:
    """Mixed into the workflow, which sets these in its ``__init__``."""

    _request: CodingTaskInput
    _result: RunnerResult | None
    _runner_task: asyncio.Task | None
    _remote_start: asyncio.Task | None
    _remote: RemoteRunner | None
    _launch_error: str | None
    _stop_requested: bool

    def _stopping(self) -> None:
        """A stop takes effect here if it has not yet: the ``stop`` Update cancels the run's task, but a
        cancel that arrives as the awaited step completes is lost with it (asyncio hands the task the
        step's result), so the run looks again after each step."""
        if self._stop_requested:
            raise asyncio.CancelledError()

    async def _start_runner(self, request: CodingTaskInput, launch: RunnerLaunch) -> str | None:
        self._launch_error = None
        if request.runner == RunnerKind.FLY:
            # Shielded: a stop while the machine is being created waits for its id to destroy it.
            self._remote_start = asyncio.ensure_future(workflow.execute_activity(
                ActivityName.START_REMOTE_RUNNER, launch, start_to_close_timeout=timedelta(minutes=2),
                retry_policy=bounded_retry(2), result_type=RemoteRunner))
            try:
                self._remote = await asyncio.shield(self._remote_start)
            except ActivityError as error:
                raise_if_cancelled(error)
                self._launch_error = failure_reason(error)
                return None
            return self._remote.ref
        self._runner_task = asyncio.ensure_future(workflow.execute_activity(
            ActivityName.RUN_RUNNER_PROCESS, launch,
            start_to_close_timeout=timedelta(seconds=request.watchdog_seconds + 300),
            heartbeat_timeout=timedelta(seconds=request.heartbeat_seconds), retry_policy=RUNNER_RETRY,
            cancellation_type=workflow.ActivityCancellationType.WAIT_CANCELLATION_COMPLETED, result_type=RunnerExit))
        prefix = "capstan-" if request.runner == RunnerKind.DOCKER else ""
        return f"{prefix}{request.execution_id}"

    async def _await_result(self, request: CodingTaskInput) -> RunnerExit | None:
        """The runner's exit when it ended without a result in time; ``None`` when the watchdog fired.
        Returns at once when the result arrives."""
        task = self._runner_task
        try:
            await workflow.wait_condition(
                lambda: self._result is not None or (task is not None and task.done()) or self._stop_requested,
                timeout=timedelta(seconds=request.watchdog_seconds))
        except TimeoutError:
            return None
        self._stopping()
        if self._result is not None or task is None:
            return None
        try:
            exit_info: RunnerExit = task.result()
        except ActivityError as error:
            exit_info = RunnerExit(exit_code=-1, reported=False, message=failure_reason(error))
        self._runner_task = None
        try:  # the result may still be on its way
            await workflow.wait_condition(lambda: self._result is not None,
                                          timeout=timedelta(seconds=request.result_grace_seconds))
        except TimeoutError:
            pass
        return exit_info

    async def _destroy_runner(self, finished: bool = False) -> None:
        """Kill the runner process or container (cancel its activity and wait for it to end), or destroy
        the remote machine. After a result, a local runner is left to exit on its own."""
        task, self._runner_task = self._runner_task, None
        if task is not None and not task.done():
            if finished:
                try:  # it exits right after its callback; bounded by the result grace
                    await workflow.wait_condition(task.done, timeout=timedelta(
                        seconds=self._request.result_grace_seconds))
                except TimeoutError:
                    task.cancel()
            else:
                task.cancel()
            try:
                await task
            except (ActivityError, asyncio.CancelledError):
                pass
        start, self._remote_start = self._remote_start, None
        if start is not None and self._remote is None:
            try:
                self._remote = await start
            except ActivityError:
                pass  # no machine was created
        if self._remote is not None:
            remote, self._remote = self._remote, None
            try:
                await workflow.execute_activity(ActivityName.DESTROY_RUNNER, remote,
                                                start_to_close_timeout=GITHUB_TIMEOUT, retry_policy=GITHUB_RETRY,
                                                result_type=type(None))
            except ActivityError as error:
                workflow.logger.warning("runner %s not destroyed: %s", remote.ref, failure_reason(error))

