"""One run of a coding task, from the accepted request to the pull request.

A dashboard create or retry starts the workflow with its first Update, ``enqueue`` (update-with-start):
the request is read from GitHub when it must be (a dashboard task's repository and issue, with the
requesting user's token), then recorded with its ``queued`` execution in one local write, where
Postgres decides every race; the Update answers the recorded execution, or a refusal the API answers
by its type (a run already active, a comment seen before, a retried task that succeeded). A refused
run ends at once.

A comment the webhook accepted is in the workflow's input (``CodingTaskInput.intake``): the webhook
answers once Temporal has the workflow, with no worker, and the run records the comment as its first
step, with the same write. A refusal there (a run of the task already active, the delivery or the
comment recorded before: races the webhook's reads answer in the common case) ends the run quietly,
with nothing recorded and no GitHub call.

Steps (each an activity, visible in the Web UI): react 👀 to the comment, mint a GitHub token, read
AGENTS.md, build the prompt, announce ``queued``, check the agent and runner are ready, start the
runner, announce ``running``, then wait for the first of: the runner's result (the ``complete``
Update, from the callback), the watchdog timer, the runner exiting without a result, or a stop (the
``stop`` Update, or the workflow's cancellation in the Web UI). The runner is destroyed on every way
out but success; the PR is found or opened on success; every transition is recorded, labelled and
commented.

A local or docker runner is one long activity the workflow does not await until the end:
cancelling it (watchdog, stop) kills the runner's process group or container before the
workflow goes on (``WAIT_CANCELLATION_COMPLETED``), so "stopped" means the process is gone. Once a
run decided how it ends, its last transition is recorded whatever arrives meanwhile: a stop then
answers how it ended.

Runs started before ``enqueue`` existed (no ``enqueue-update`` patch marker) read their execution,
which the API had recorded, with ``load_task_execution``, and took their result as a Signal.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError
from temporalio.exceptions import TimeoutError as TemporalTimeoutError

with workflow.unsafe.imports_passed_through():
    from models.common.records import RECORD_REJECTED_ERROR
    from models.tasks import comments
    from models.tasks.prompt import build_prompt
    from models.tasks.requests import EnqueuedRun, EnqueueRecord, EnqueueRun, ResultArrival, TaskRequest
    from models.tasks.status import FailureStage, TaskStatus
    from models.tasks.workflow_io import (
        ActivityName,
        CodingTaskInput,
        LaunchRequest,
        PullRequest,
        PullRequestInput,
        Readiness,
        Refusal,
        RemoteRunner,
        RunnerResult,
        SignalName,
        Transition,
        UpdateName,
        WorkflowName,
    )
    from workflows.common.failures import failure_reason, raise_if_cancelled, update_refusal
    from workflows.common.records import (
        LOCAL_WRITE_BUDGET,
        RECORDS_RETRY,
        execute_local_write,
        execute_records_activity,
    )
    from workflows.common.retry import bounded_retry
    from workflows.tasks.runner_steps import GITHUB_RETRY, GITHUB_TIMEOUT, RunnerSteps

#: A user waits on the dashboard's GitHub reads (create, retry): one more try on a GitHub failure, no more.
REQUEST_READ_RETRY = bounded_retry(2)
#: Runs from before the ``enqueue`` Update: the first read waited for the API's commit (about 25 s in all).
RECORD_APPEARS_RETRY = RetryPolicy(initial_interval=timedelta(milliseconds=100), backoff_coefficient=2.0,
                                   maximum_interval=timedelta(seconds=5), maximum_attempts=8)
#: Patch marker of runs started by their ``enqueue`` Update.
ENQUEUE_UPDATE = "enqueue-update"
#: The ``enqueue`` Update arrives with the start; a run whose Update was lost ends after this.
ENQUEUE_WAIT = timedelta(minutes=10)
#: What a run returns when its request was refused (or never arrived): no execution was recorded.
NOT_ENQUEUED = "not_enqueued"
#: Refusals that end a comment's run quietly: Postgres found the task busy, or the comment recorded.
QUIET_REFUSALS = frozenset({Refusal.ALREADY_RUNNING, Refusal.DUPLICATE_REQUEST})
#: Refusals the ``enqueue`` Update passes on to the API as they are.
PASSED_ON = frozenset({Refusal.ALREADY_RUNNING, Refusal.DUPLICATE_REQUEST, Refusal.NOT_RETRYABLE,
                       Refusal.GITHUB_REFUSED, RECORD_REJECTED_ERROR})


def passed_on(error: ActivityError) -> ApplicationError:
    """An activity's refusal as the ``enqueue`` Update's own (same type and details), or why it failed."""
    return update_refusal(error, PASSED_ON, "the run could not be queued", "enqueue_failed")


@workflow.defn(name=WorkflowName.CODING_TASK)
class CodingTaskWorkflow(RunnerSteps):
    @workflow.init
    def __init__(self, request: CodingTaskInput) -> None:
        self._request = request
        self._result: RunnerResult | None = None
        self._recorded: EnqueuedRun | None = None
        #: A comment's run records itself: it takes no ``enqueue`` Update.
        self._enqueue_begun = request.intake is not None
        self._enqueue_refused = False
        self._main: asyncio.Task | None = None
        self._stop_requested = False
        #: How the run ends, once decided; then ``_outcome`` once that is recorded.
        self._final_status: TaskStatus | None = None
        self._outcome: str | None = None
        self._runner_task: asyncio.Task | None = None
        self._remote_start: asyncio.Task | None = None
        self._remote: RemoteRunner | None = None
        self._launch_error: str | None = None

    # --- Updates and the legacy Signal ------------------------------------------------------------

    @workflow.update(name=UpdateName.ENQUEUE)
    async def enqueue(self, order: EnqueueRun) -> EnqueuedRun:
        """Complete the request from GitHub if it must be, record it: the recorded execution, or a refusal."""
        self._enqueue_begun = True
        try:
            request = order.request
            if request.github_read is not None:
                try:
                    request = await workflow.execute_activity(
                        ActivityName.READ_TASK_REQUEST, request, start_to_close_timeout=GITHUB_TIMEOUT,
                        retry_policy=REQUEST_READ_RETRY, result_type=TaskRequest)
                except ActivityError as error:
                    raise passed_on(error) from None
            self._recorded = await self._record_enqueue(EnqueueRecord(
                execution_id=self._request.execution_id, runner=self._request.runner, request=request,
                delivery_id=order.delivery_id, retry_of=order.retry_of))
        except ApplicationError:
            self._enqueue_refused = True
            raise
        return self._recorded

    @enqueue.validator
    def _check_enqueue(self, order: EnqueueRun) -> None:
        if self._enqueue_begun:
            raise ApplicationError("this run was queued already", type=Refusal.ALREADY_ENQUEUED)

    @workflow.update(name=UpdateName.COMPLETE)
    async def report(self, result: RunnerResult) -> None:
        """The runner's result: taken at once, then its arrival recorded before the answer."""
        self._result = result
        await execute_local_write(ActivityName.RECORD_RESULT, ResultArrival(
            execution_id=self._request.execution_id, callback_attempt=result.callback_attempt,
            callback_max_attempts=result.callback_max_attempts,
            callback_last_http_code=result.callback_last_http_code), bool)

    @report.validator
    def _check_report(self, result: RunnerResult) -> None:
        if self._result is not None or self._final_status is not None:
            raise ApplicationError("the run already has a result, or has ended", type=Refusal.ALREADY_FINISHED)

    @workflow.signal(name=SignalName.COMPLETE)
    def complete(self, result: RunnerResult) -> None:
        """The runner's result in runs from before the ``complete`` Update; only the first counts."""
        if self._result is None:
            self._result = result

    @workflow.update(name=UpdateName.STOP)
    async def stop(self) -> str:
        """End the run as a stop does (the runner first), and answer once its end is recorded: ``stopped``,
        or how it ended when it was already ending another way."""
        self._stop_requested = True
        if self._main is not None:
            self._main.cancel()
        await workflow.wait_condition(lambda: self._outcome is not None)
        return self._outcome or TaskStatus.STOPPED

    @stop.validator
    def _check_stop(self) -> None:
        ending = self._final_status
        if ending is not None and ending != TaskStatus.STOPPED:
            raise ApplicationError(f"the run has ended: {ending}", {"status": ending}, type=Refusal.NOT_RUNNING)
        if self._enqueue_refused:
            raise ApplicationError("the run was never queued", {"status": None}, type=Refusal.NOT_RUNNING)

    # --- the run ----------------------------------------------------------------------------------

    @workflow.run
    async def run(self, request: CodingTaskInput) -> str:
        if request.intake is not None:
            recorded = await self._record_intake(request.intake)
            if recorded is None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return NOT_ENQUEUED
        elif workflow.patched(ENQUEUE_UPDATE):
            try:
                await workflow.wait_condition(lambda: self._recorded is not None or self._enqueue_refused,
                                              timeout=ENQUEUE_WAIT)
            except TimeoutError:
                pass
            if self._recorded is None:
                await workflow.wait_condition(workflow.all_handlers_finished)
                return NOT_ENQUEUED
            recorded = self._recorded
        else:
            loaded: dict[str, Any] = await workflow.execute_activity(
                ActivityName.LOAD_EXECUTION, request.execution_id, start_to_close_timeout=GITHUB_TIMEOUT,
                retry_policy=RECORD_APPEARS_RETRY, result_type=dict)
            recorded = self._recorded = EnqueuedRun.from_loaded(loaded)
        if self._stop_requested:
            status = await self._stopped()
        else:
            self._main = asyncio.ensure_future(self._run(request, recorded.request))
            try:
                status = await self._main
            except asyncio.CancelledError:  # the stop Update, or the workflow cancelled (Web UI)
                status = await self._stopped()
        await workflow.wait_condition(workflow.all_handlers_finished)
        return status

    async def _stopped(self) -> str:
        """The stop: the runner ended first, then ``stopped`` recorded and announced. A run that had
        decided to end another way ends that way."""
        if self._final_status is not None and self._final_status != TaskStatus.STOPPED:
            await workflow.wait_condition(lambda: self._outcome is not None)
            return self._outcome or self._final_status
        self._final_status = TaskStatus.STOPPED
        await asyncio.shield(self._destroy_runner())
        await asyncio.shield(self._record_final(Transition(
            execution_id=self._request.execution_id, status=TaskStatus.STOPPED, summary=comments.STOPPED_SUMMARY)))
        return TaskStatus.STOPPED

    async def _record_intake(self, intake: EnqueueRun) -> EnqueuedRun | None:
        """A comment's run records it first: the recorded execution, or ``None`` when Postgres refused it
        (logged). The write is shielded: a cancel meanwhile (Web UI) lets it finish, then stops the run,
        so a recorded execution never stays ``queued`` without a run."""
        write = asyncio.ensure_future(self._record_enqueue(EnqueueRecord(
            execution_id=self._request.execution_id, runner=self._request.runner, request=intake.request,
            delivery_id=intake.delivery_id, accepted_at=workflow.info().workflow_start_time)))
        try:
            try:
                self._recorded = await asyncio.shield(write)
            except asyncio.CancelledError:
                self._stop_requested = True
                self._recorded = await write
        except ApplicationError as refusal:
            self._enqueue_refused = True
            if refusal.type not in QUIET_REFUSALS:
                raise  # the workflow fails, saying why (Postgres refused the data)
            workflow.logger.info("comment %s (delivery %s) not recorded: %s", intake.request.comment_id,
                                 intake.delivery_id, refusal.message)
            return None
        return self._recorded

    async def _record_enqueue(self, record: EnqueueRecord) -> EnqueuedRun:
        """The enqueue write, local (one workflow task) unless Postgres is slow; refusals passed on."""
        try:
            try:
                return await workflow.execute_local_activity(
                    ActivityName.RECORD_ENQUEUE, record, start_to_close_timeout=LOCAL_WRITE_BUDGET,
                    schedule_to_close_timeout=LOCAL_WRITE_BUDGET, retry_policy=RECORDS_RETRY, result_type=EnqueuedRun)
            except ActivityError as error:
                if not isinstance(error.cause, TemporalTimeoutError):
                    raise
            return await execute_records_activity(ActivityName.RECORD_ENQUEUE, record, EnqueuedRun)
        except ActivityError as error:
            raise passed_on(error) from None

    async def _run(self, request: CodingTaskInput, context: TaskRequest) -> str:
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
        self._stopping()
        prompt = build_prompt(agent=context.agent, issue_number=context.issue_number or 0,
                              issue_title=context.issue_title,
                              issue_body=context.issue_body, agents_md=agents_md, instructions=context.instructions)
        await self._transition(Transition(execution_id=execution_id, status=TaskStatus.QUEUED,
                                          summary=comments.QUEUED_SUMMARY), announce_only=True)
        readiness: Readiness = await self._activity(
            ActivityName.CHECK_READINESS, LaunchRequest(execution_id=execution_id, prompt=prompt), Readiness)
        self._stopping()
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
        self._stopping()

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
        self._stopping()
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

    async def _fail(self, stage: FailureStage, summary: str, error: str) -> str:
        return await self._finish(Transition(execution_id=self._request.execution_id, status=TaskStatus.FAILED,
                                             failure_stage=stage, summary=summary, error=error))

    async def _finish(self, transition: Transition) -> str:
        """Record how the run ends; shielded, so a stop arriving meanwhile waits for it rather than cut it."""
        if self._final_status is None:
            self._final_status = transition.status
        await asyncio.shield(self._record_final(transition))
        return transition.status

    async def _record_final(self, transition: Transition) -> None:
        await self._transition(transition)
        self._outcome = transition.status

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

