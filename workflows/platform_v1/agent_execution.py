"""One execution of an agent's reasoner, from its record to its one ending.

Every run starts with its ``register`` Update (update-with-start, from ``POST /execute`` or a retry): the
run records the execution ``queued`` (a retry's run moves the failed or cancelled record back to
``queued``, Postgres deciding a race), then the Update waits up to its ``wait_seconds`` for the end, so a
sync execute answers from the recorded end without the API awaiting the workflow. An Update from another
request than the one that started the run (a second retry while the first one's run goes on) is refused
by its validator with ``invalid_transition``.

The run records ``running``, then calls the agent, one try per activity (each heartbeats: a cancel reaches
it, a lost worker is noticed and the try is made again by another worker, with the same ``x-execution-id``).
A connection error, 429 or 5xx is tried again up to the run's ``max_attempts``, 1 s, 2 s, … apart; any other
answer ends the tries. A 202 waits for the ``callback`` Update under a durable timer of the reasoner's
``callbackTimeoutSeconds``. A cancel of the workflow records ``cancelled``. Every way out writes the one
ending (record, evidence artifact, ``workflow.completed`` event) through one activity.

The history holds ids only: the input, output and evidence are artifact ids, the Bearer token a secret's key.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.platform_v1.executions import ExecutionStatus, FailureCode
    from models.platform_v1.workflow_io import (
        ALREADY_ENDED,
        INVALID_TRANSITION,
        ActivityName,
        AgentCall,
        AgentExecutionInput,
        AttemptResult,
        CallbackAnswer,
        CallbackReport,
        CallOutcome,
        EndedWrite,
        QueuedWrite,
        Registered,
        Registration,
        RunningWrite,
        UpdateName,
        WorkflowName,
    )
    from workflows.common.failures import failure_reason, raise_if_cancelled, update_refusal
    from workflows.common.records import RECORDS_RETRY, RECORDS_TIMEOUT
    from workflows.common.retry import bounded_retry, pause_after

#: A run whose ``register`` Update never came (lost with its API request) ends after this, recording nothing.
REGISTER_WAIT = timedelta(minutes=10)
#: What a run returns when it recorded nothing (its request was refused, or never arrived).
NOT_REGISTERED = "not_registered"
#: The agent call's heartbeat: a worker lost mid-call is noticed after this, and the try made again.
CALL_HEARTBEAT = timedelta(seconds=10)
#: Tries of one agent call lost with its worker (heartbeat timeout), not of what the agent answered.
WORKER_LOSS_RETRY = bounded_retry(5)
#: Beyond the reasoner's timeout, for the activity to store the output and answer.
CALL_MARGIN = timedelta(seconds=30)

FAILURES = {
    CallOutcome.UNAVAILABLE: FailureCode.AGENT_UNAVAILABLE,
    CallOutcome.REJECTED: FailureCode.AGENT_REJECTED,
    CallOutcome.TIMEOUT: FailureCode.AGENT_TIMEOUT,
    CallOutcome.INVALID: FailureCode.INVALID_AGENT_RESPONSE,
}


class Ending:
    """How the run ends, once decided."""

    def __init__(self, status: ExecutionStatus, code: str | None = None, message: str | None = None,
                 output: str | None = None) -> None:
        self.status, self.code, self.message, self.output = status, code, message, output


@workflow.defn(name=WorkflowName.AGENT_EXECUTION)
class AgentExecutionWorkflow:
    @workflow.init
    def __init__(self, run: AgentExecutionInput) -> None:
        self._run = run
        self._status: str | None = None
        self._registering = False
        self._refused = False
        self._ended = False
        self._ending_decided = False
        self._callback: CallbackReport | None = None
        self._callback_used = False
        self._attempts: list[AttemptResult] = []

    # --- Updates ------------------------------------------------------------------------------------

    @workflow.update(name=UpdateName.REGISTER)
    async def register(self, registration: Registration) -> Registered:
        """Record the execution (once per run), then wait up to ``wait_seconds`` for its end."""
        if not self._registering:
            self._registering = True
            write = QueuedWrite(run=self._run, workflow_id=workflow.info().workflow_id,
                                run_id=workflow.info().run_id)
            try:
                recorded = await workflow.execute_activity(
                    ActivityName.RECORD_EXECUTION_QUEUED, write, start_to_close_timeout=RECORDS_TIMEOUT,
                    retry_policy=RECORDS_RETRY, result_type=Registered)
            except ActivityError as error:
                self._refused = True
                raise update_refusal(error, frozenset({INVALID_TRANSITION}), "the execution could not be recorded",
                                     "record_failed") from None
            self._status = recorded.status
        else:
            await workflow.wait_condition(lambda: self._status is not None or self._refused)
            if self._refused:
                raise ApplicationError("the execution could not be recorded", type=INVALID_TRANSITION,
                                       non_retryable=True)
        if registration.wait_seconds > 0 and not self._ended:
            try:
                await workflow.wait_condition(lambda: self._ended,
                                              timeout=timedelta(seconds=registration.wait_seconds))
            except TimeoutError:
                pass
        return Registered(execution_id=self._run.execution_id, status=self._status or ExecutionStatus.QUEUED,
                          ended=self._ended)

    @register.validator
    def _admit_registration(self, registration: Registration) -> None:
        if registration.request != self._run.request:
            raise ApplicationError(f"the execution is {self._status or ExecutionStatus.QUEUED}",
                                   {"currentStatus": self._status or ExecutionStatus.QUEUED},
                                   type=INVALID_TRANSITION)

    @workflow.update(name=UpdateName.CALLBACK)
    async def callback(self, report: CallbackReport) -> CallbackAnswer:
        self._callback = report
        return CallbackAnswer(execution_id=self._run.execution_id, status="accepted")

    @callback.validator
    def _admit_callback(self, report: CallbackReport) -> None:
        if self._callback is not None or self._ending_decided or self._status is None:
            status = self._status or ExecutionStatus.QUEUED
            raise ApplicationError(f"the execution has its outcome already ({status})", {"status": status},
                                   type=ALREADY_ENDED)

    # --- The run --------------------------------------------------------------------------------------

    @workflow.run
    async def run(self, run: AgentExecutionInput) -> str:
        began = workflow.now()
        try:
            await workflow.wait_condition(lambda: self._status is not None or self._refused, timeout=REGISTER_WAIT)
        except TimeoutError:
            return NOT_REGISTERED
        except asyncio.CancelledError:
            if not await self._registered_anyway():
                raise
            await self._end(Ending(ExecutionStatus.CANCELLED), began)
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise
        if self._refused:
            return NOT_REGISTERED
        try:
            await self._record_running()
            ending = await self._execute()
        except asyncio.CancelledError:
            await self._end(Ending(ExecutionStatus.CANCELLED), began)
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise
        await self._end(ending, began)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return str(ending.status)

    async def _registered_anyway(self) -> bool:
        """Cancelled while its ``register`` Update was recording: whether the record was made."""
        if self._registering:
            await workflow.wait_condition(lambda: self._status is not None or self._refused)
        return self._status is not None

    async def _record_running(self) -> None:
        await workflow.execute_activity(
            ActivityName.RECORD_EXECUTION_RUNNING,
            RunningWrite(execution_id=self._run.execution_id, run_id=workflow.info().run_id,
                         started_at=workflow.now()),
            start_to_close_timeout=RECORDS_TIMEOUT, retry_policy=RECORDS_RETRY, result_type=bool)
        self._status = ExecutionStatus.RUNNING

    async def _execute(self) -> Ending:
        try:
            last = await self._call()
        except ActivityError as error:
            raise_if_cancelled(error)
            return Ending(ExecutionStatus.FAILED, FailureCode.INTERNAL_ERROR, failure_reason(error))
        if last.outcome == CallOutcome.OUTPUT:
            return Ending(ExecutionStatus.SUCCEEDED, output=last.output_artifact_id)
        if last.outcome == CallOutcome.ACCEPTED:
            return await self._await_callback()
        return Ending(ExecutionStatus.FAILED, FAILURES[last.outcome], last.error)

    async def _call(self) -> AttemptResult:
        target = self._run.target
        attempt = 0
        while True:
            attempt += 1
            result = await workflow.execute_activity(
                ActivityName.CALL_AGENT,
                AgentCall(execution_id=self._run.execution_id, workspace_id=self._run.workspace_id,
                          correlation_id=self._run.correlation_id, target=target,
                          input_artifact_id=self._run.input_artifact_id, attempt=attempt,
                          run_id=workflow.info().run_id),
                start_to_close_timeout=timedelta(seconds=target.timeout_seconds) + CALL_MARGIN,
                heartbeat_timeout=CALL_HEARTBEAT, retry_policy=WORKER_LOSS_RETRY, result_type=AttemptResult)
            self._attempts.append(result)
            if result.outcome != CallOutcome.UNAVAILABLE or attempt >= self._run.max_attempts:
                return result
            await workflow.sleep(pause_after(attempt))

    async def _await_callback(self) -> Ending:
        timeout = self._run.target.callback_timeout_seconds
        try:
            await workflow.wait_condition(lambda: self._callback is not None, timeout=timedelta(seconds=timeout))
        except TimeoutError:
            return Ending(ExecutionStatus.FAILED, FailureCode.AGENT_TIMEOUT,
                          f"no callback within the reasoner's callbackTimeoutSeconds ({timeout}s)")
        report = self._callback
        assert report is not None
        self._callback_used = True
        if report.completed:
            return Ending(ExecutionStatus.SUCCEEDED, output=report.output_artifact_id)
        return Ending(ExecutionStatus.FAILED, FailureCode.AGENT_FAILED, report.error_message)

    async def _end(self, ending: Ending, began: datetime) -> None:
        """Write the one ending; a cancel arriving meanwhile does not interrupt the write (it is shielded), and
        changes nothing once the ending is decided."""
        self._ending_decided = True
        write = asyncio.ensure_future(self._write_end(ending, began))
        while True:
            try:
                await asyncio.shield(write)
                return
            except asyncio.CancelledError:
                if write.done():
                    return

    async def _write_end(self, ending: Ending, began: datetime) -> None:
        now = workflow.now()
        write = EndedWrite(
            execution_id=self._run.execution_id, workspace_id=self._run.workspace_id, run_id=workflow.info().run_id,
            workflow_id=workflow.info().workflow_id, status=ending.status, failure_code=ending.code,
            failure_message=ending.message, output_artifact_id=ending.output, completed_at=now,
            duration_ms=max(0, int((now - began).total_seconds() * 1000)), target=self._run.target,
            attempts=self._attempts, callback=self._callback if self._callback_used else None)
        await workflow.execute_activity(ActivityName.RECORD_EXECUTION_ENDED, write,
                                        start_to_close_timeout=RECORDS_TIMEOUT, retry_policy=RECORDS_RETRY,
                                        result_type=bool)
        self._status = ending.status
        self._ended = True
