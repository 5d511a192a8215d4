"""One run of a coding task, from the accepted comment to the pull request.

Steps (each an activity, visible in the Web UI): load the execution, react 👀 to the comment,
mint a GitHub token, read AGENTS.md, build the prompt, announce ``queued``, check the agent and
runner are ready, start the runner, announce ``running``, then wait for the first of: the
completion callback (signal ``complete``), the watchdog timer, the runner exiting without a result,
or cancellation (stop). The runner is destroyed on every way out but success; the PR is found or
opened on success; every transition is recorded, labelled and commented.

A local or docker runner is one long activity the workflow does not await until the end:
cancelling it (watchdog, stop) kills the runner's process group or container before the
workflow goes on (``WAIT_CANCELLATION_COMPLETED``), so "stopped" means the process is gone.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models.tasks import comments
    from models.tasks.prompt import build_prompt
    from models.tasks.status import FailureStage, RunnerKind, TaskStatus
    from models.tasks.workflow_io import (
        ActivityName,
        CodingTaskInput,
        ExecutionContext,
        LaunchRequest,
        PullRequest,
        PullRequestInput,
        Readiness,
        RemoteRunner,
        RunnerExit,
        RunnerLaunch,
        RunnerResult,
        SignalName,
        Transition,
        WorkflowName,
    )
    from workflows.common.failures import failure_reason, raise_if_cancelled
    from workflows.common.records import execute_local_write
    from workflows.common.retry import bounded_retry

GITHUB_TIMEOUT = timedelta(seconds=60)
GITHUB_RETRY = bounded_retry(4)
#: A runner process lost with its worker is started again (its branch belongs to the execution, so
#: the second push replaces the first); an agent that fails reports it and is not retried.
RUNNER_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), maximum_attempts=3)
#: The API starts the run's workflow, then commits its execution: the first read waits for the commit
#: (about 25 s in all); an execution that never appears (the commit failed) ends the workflow.
RECORD_APPEARS_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=2.0,
                                   maximum_interval=timedelta(seconds=5), maximum_attempts=8)


@workflow.defn(name=WorkflowName.CODING_TASK)
class CodingTaskWorkflow:
    def __init__(self) -> None:
        self._result: RunnerResult | None = None

    @workflow.signal(name=SignalName.COMPLETE)
    def complete(self, result: RunnerResult) -> None:
        """The runner's result; only the first counts (a duplicate callback changes nothing)."""
        if self._result is None:
            self._result = result

    @workflow.run
    async def run(self, request: CodingTaskInput) -> str:
        self._request = request
        self._runner_task: asyncio.Task | None = None
        self._remote_start: asyncio.Task | None = None
        self._remote: RemoteRunner | None = None
        context: ExecutionContext = await workflow.execute_activity(
            ActivityName.LOAD_EXECUTION, request.execution_id, start_to_close_timeout=GITHUB_TIMEOUT,
            retry_policy=RECORD_APPEARS_RETRY, result_type=ExecutionContext)
        try:
            return await self._run(request, context)
        except asyncio.CancelledError:
            await asyncio.shield(self._destroy_runner())
            await asyncio.shield(self._transition(Transition(
                execution_id=request.execution_id, status=TaskStatus.STOPPED, summary=comments.STOPPED_SUMMARY)))
            return TaskStatus.STOPPED

    async def _run(self, request: CodingTaskInput, context: ExecutionContext) -> str:
        execution_id = request.execution_id
        try:
            if context.comment_id is not None:
                await self._activity(ActivityName.REACT_TO_COMMENT, execution_id, type(None))
            await self._activity(ActivityName.MINT_GITHUB_TOKEN, execution_id, str)
            agents_md = await self._activity(ActivityName.READ_AGENTS_MD, execution_id, str | None)
        except ActivityError as error:
            raise_if_cancelled(error)
            return await self._fail(FailureStage.DISPATCH, f"Task failed before start: {failure_reason(error)}",
                                    failure_reason(error))
        prompt = build_prompt(agent=context.agent, issue_number=context.issue_number, issue_title=context.issue_title,
                              issue_body=context.issue_body, agents_md=agents_md, instructions=context.instructions)
        await self._transition(Transition(execution_id=execution_id, status=TaskStatus.QUEUED,
                                          summary=comments.QUEUED_SUMMARY), announce_only=True)
        readiness: Readiness = await self._activity(
            ActivityName.CHECK_READINESS, LaunchRequest(execution_id=execution_id, prompt=prompt), Readiness)
        if readiness.launch is None:
            blocked = readiness.blocked or "Task blocked."
            return await self._fail(FailureStage.DISPATCH, blocked, blocked)
        launch = readiness.launch

        ref = await self._start_runner(request, launch)
        if ref is None:
            summary = comments.launch_failed_summary(request.runner)
            return await self._fail(FailureStage.DISPATCH, summary, self._launch_error or summary)
        await self._transition(Transition(execution_id=execution_id, status=TaskStatus.RUNNING, runner_ref=ref,
                                          summary=comments.running_summary(request.runner, ref)))

        exit_info = await self._await_result(request)
        if self._result is None:
            if exit_info is None:
                await self._destroy_runner()
                summary = comments.timeout_summary(request.watchdog_seconds)
                return await self._finish(Transition(
                    execution_id=execution_id, status=TaskStatus.TIMED_OUT, failure_stage=FailureStage.AGENT,
                    summary=summary, error=summary.removeprefix("❌ Capstan failed: ")))
            message = f"runner exited with code {exit_info.exit_code} without a result"
            if exit_info.message:
                message += f": {exit_info.message}"
            return await self._fail(FailureStage.AGENT, comments.agent_failed_summary(message), message)
        return await self._conclude(request, self._result)

    async def _conclude(self, request: CodingTaskInput, result: RunnerResult) -> str:
        execution_id = request.execution_id
        await self._destroy_runner(finished=True)
        if result.status != TaskStatus.SUCCESS:
            text = result.summary or result.error or "the agent reported a failure"
            return await self._finish(Transition(
                execution_id=execution_id, status=TaskStatus.FAILED, failure_stage=FailureStage.AGENT,
                summary=comments.agent_failed_summary(text), error=result.error or text,
                commit_hash=result.commit_hash, result=result))
        try:
            pull: PullRequest = await self._activity(
                ActivityName.OPEN_PULL_REQUEST, PullRequestInput(execution_id=execution_id, result=result), PullRequest)
        except ActivityError as error:
            raise_if_cancelled(error)
            reason = failure_reason(error)
            return await self._finish(Transition(
                execution_id=execution_id, status=TaskStatus.FAILED, failure_stage=FailureStage.PR,
                summary=comments.pr_failed_summary(result.summary, reason), error=reason,
                commit_hash=result.commit_hash, result=result))
        return await self._finish(Transition(
            execution_id=execution_id, status=TaskStatus.SUCCESS, summary=comments.success_summary(
                pull.url, result.summary), commit_hash=result.commit_hash, pr_url=pull.url, pr_number=pull.number,
            result=result))

    async def _start_runner(self, request: CodingTaskInput, launch: RunnerLaunch) -> str | None:
        self._launch_error: str | None = None
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
            await workflow.wait_condition(lambda: self._result is not None or (task is not None and task.done()),
                                          timeout=timedelta(seconds=request.watchdog_seconds))
        except TimeoutError:
            return None
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

    async def _fail(self, stage: FailureStage, summary: str, error: str) -> str:
        return await self._finish(Transition(execution_id=self._request.execution_id, status=TaskStatus.FAILED,
                                             failure_stage=stage, summary=summary, error=error))

    async def _finish(self, transition: Transition) -> str:
        await self._transition(transition)
        return transition.status

    async def _transition(self, transition: Transition, announce_only: bool = False) -> None:
        """Record the transition (a local write), then label and comment on the issue. A GitHub
        failure there is logged on the task, never fails the run."""
        if not announce_only:
            await execute_local_write(ActivityName.RECORD_TRANSITION, transition, bool)
        try:
            await workflow.execute_activity(ActivityName.ANNOUNCE_TRANSITION, transition,
                                            start_to_close_timeout=GITHUB_TIMEOUT, retry_policy=GITHUB_RETRY,
                                            result_type=type(None))
        except ActivityError as error:
            raise_if_cancelled(error)
            workflow.logger.warning("transition %s not announced on GitHub: %s", transition.status,
                                    failure_reason(error))

    async def _activity(self, name: str, arg: object, result_type: object) -> object:
        return await workflow.execute_activity(name, arg, start_to_close_timeout=GITHUB_TIMEOUT,
                                               retry_policy=GITHUB_RETRY, result_type=result_type)

