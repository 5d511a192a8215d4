"""The job workflows: ``ImportWorkflow``, ``ExportWorkflow`` and ``AccountingSyncWorkflow``, each owning its job's
execution record as ``AgentExecutionWorkflow`` owns an agent execution's.

Every run starts with its ``register`` Update (update-with-start, from the job's route or a retry): the run
records the job's execution ``queued`` (a retry's run moves the failed or cancelled record back), Postgres
deciding a race and, for a sync, whether another one is queued or running (``sync_in_progress``). Then the
run records ``running``, does the job's work through its activities, and writes the one ending (record,
evidence, ``workflow.completed``) through one activity, shielded from a cancel arriving meanwhile.

The history holds ids only: an import's records, an export's file and an accounting answer are artifact ids,
the accounting token the key of its secret.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.platform_v1.executions import ExecutionStatus
    from models.platform_v1.job_io import (
        SYNC_IN_PROGRESS,
        AdapterAttempt,
        AdapterOutcome,
        JobActivityName,
        JobEndedWrite,
        JobQueuedWrite,
        JobRunInput,
        JobStep,
        JobWorkflowName,
        WorkOutcome,
    )
    from models.platform_v1.jobs import JobErrorCode
    from models.platform_v1.workflow_io import (
        INVALID_TRANSITION,
        ActivityName,
        Registered,
        Registration,
        RunningWrite,
        UpdateName,
    )
    from workflows.common.failures import failure_reason, raise_if_cancelled, update_refusal
    from workflows.common.records import RECORDS_RETRY, RECORDS_TIMEOUT
    from workflows.common.retry import bounded_retry, pause_after

#: A run whose ``register`` Update never came ends after this, recording nothing.
REGISTER_WAIT = timedelta(minutes=10)
NOT_REGISTERED = "not_registered"
#: An import or an export: one transaction of up to 5000 records, or a file of up to 100,000.
WORK_TIMEOUT = timedelta(minutes=10)
#: The work's activity tried again when its worker is lost or Postgres fails; a refusal of the data is not.
WORK_RETRY = bounded_retry(5, maximum_interval=timedelta(seconds=30))
#: One accounting call: the adapter's timeout is at most 60 s, and its answer is read within that.
CALL_TIMEOUT = timedelta(seconds=90)
CALL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_attempts=3)

ADAPTER_FAILURES = {
    AdapterOutcome.UNAVAILABLE: JobErrorCode.ADAPTER_UNAVAILABLE,
    AdapterOutcome.REJECTED: JobErrorCode.ADAPTER_REJECTED,
    AdapterOutcome.INVALID: JobErrorCode.INVALID_ADAPTER_RESPONSE,
}
REFUSALS = frozenset({INVALID_TRANSITION, SYNC_IN_PROGRESS})


class JobRun:
    """What the three job workflows share: the register Update, the record's moves and the one ending.
    Each workflow class adds its ``run`` (which calls ``_lifecycle``) and its ``_work``."""

    def __init__(self, run: JobRunInput) -> None:
        self._run = run
        self._status: str | None = None
        self._registering = False
        self._refused = False
        self._ended = False
        self._attempts: list[AdapterAttempt] = []

    @workflow.update(name=UpdateName.REGISTER)
    async def register(self, registration: Registration) -> Registered:
        """Record the job's execution (once per run), then wait up to ``wait_seconds`` for its end."""
        if not self._registering:
            self._registering = True
            write = JobQueuedWrite(run=self._run, workflow_id=workflow.info().workflow_id,
                                   run_id=workflow.info().run_id)
            try:
                recorded = await workflow.execute_activity(
                    JobActivityName.RECORD_JOB_QUEUED, write, start_to_close_timeout=RECORDS_TIMEOUT,
                    retry_policy=RECORDS_RETRY, result_type=Registered)
            except ActivityError as error:
                self._refused = True
                raise update_refusal(error, REFUSALS, "the job could not be recorded", "record_failed") from None
            self._status = recorded.status
        else:
            await workflow.wait_condition(lambda: self._status is not None or self._refused)
            if self._refused:
                raise ApplicationError("the job could not be recorded", type=INVALID_TRANSITION, non_retryable=True)
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
            status = self._status or ExecutionStatus.QUEUED
            raise ApplicationError(f"the job is {status}", {"currentStatus": status}, type=INVALID_TRANSITION)

    async def _lifecycle(self) -> str:
        began = workflow.now()
        try:
            await workflow.wait_condition(lambda: self._status is not None or self._refused, timeout=REGISTER_WAIT)
        except TimeoutError:
            return NOT_REGISTERED
        except asyncio.CancelledError:
            if self._registering:
                await workflow.wait_condition(lambda: self._status is not None or self._refused)
            if self._status is None:
                raise
            await self._end(WorkOutcome(), ExecutionStatus.CANCELLED, began)
            raise
        if self._refused:
            return NOT_REGISTERED
        try:
            await workflow.execute_activity(
                ActivityName.RECORD_EXECUTION_RUNNING,
                RunningWrite(execution_id=self._run.execution_id, run_id=workflow.info().run_id,
                             started_at=workflow.now()),
                start_to_close_timeout=RECORDS_TIMEOUT, retry_policy=RECORDS_RETRY, result_type=bool)
            self._status = ExecutionStatus.RUNNING
            outcome = await self._work()
        except asyncio.CancelledError:
            await self._end(WorkOutcome(), ExecutionStatus.CANCELLED, began)
            await workflow.wait_condition(workflow.all_handlers_finished)
            raise
        status = ExecutionStatus.FAILED if outcome.error_code else ExecutionStatus.SUCCEEDED
        await self._end(outcome, status, began)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return str(status)

    async def _work(self) -> WorkOutcome:
        raise NotImplementedError

    def _step(self, attempt: int = 0, response_artifact_id: str | None = None) -> JobStep:
        return JobStep(run=self._run, run_id=workflow.info().run_id, attempt=attempt,
                       response_artifact_id=response_artifact_id)

    async def _one_activity(self, activity: str, step: JobStep) -> WorkOutcome:
        """The work of one activity; one that failed for good fails the job ``internal_error``."""
        try:
            return await workflow.execute_activity(activity, step, start_to_close_timeout=WORK_TIMEOUT,
                                                   retry_policy=WORK_RETRY, result_type=WorkOutcome)
        except ActivityError as error:
            raise_if_cancelled(error)
            return WorkOutcome(error_code=JobErrorCode.INTERNAL_ERROR, error_message=failure_reason(error))

    async def _end(self, outcome: WorkOutcome, status: ExecutionStatus, began: datetime) -> None:
        """Write the one ending; a cancel arriving meanwhile does not interrupt the write (it is shielded)."""
        write = asyncio.ensure_future(self._write_end(outcome, status, began))
        while True:
            try:
                await asyncio.shield(write)
                return
            except asyncio.CancelledError:
                if write.done():
                    return

    async def _write_end(self, outcome: WorkOutcome, status: ExecutionStatus, began: datetime) -> None:
        now = workflow.now()
        write = JobEndedWrite(
            execution_id=self._run.execution_id, workspace_id=self._run.workspace_id, type=self._run.type,
            run_id=workflow.info().run_id, workflow_id=workflow.info().workflow_id, status=status,
            error_code=outcome.error_code, error_message=outcome.error_message,
            result=outcome.result if status == ExecutionStatus.SUCCEEDED else None,
            output_artifact_id=outcome.output_artifact_id if status == ExecutionStatus.SUCCEEDED else None,
            completed_at=now, duration_ms=max(0, int((now - began).total_seconds() * 1000)), attempts=self._attempts)
        await workflow.execute_activity(JobActivityName.RECORD_JOB_ENDED, write, start_to_close_timeout=RECORDS_TIMEOUT,
                                        retry_policy=RECORDS_RETRY, result_type=bool)
        self._status = status
        self._ended = True


@workflow.defn(name=JobWorkflowName.IMPORT)
class ImportWorkflow(JobRun):
    """Writes every record of the input artifact in one transaction, or none (``invalid_reference``)."""

    @workflow.init
    def __init__(self, run: JobRunInput) -> None:
        super().__init__(run)

    @workflow.run
    async def run(self, run: JobRunInput) -> str:
        return await self._lifecycle()

    async def _work(self) -> WorkOutcome:
        return await self._one_activity(JobActivityName.RUN_IMPORT, self._step())


@workflow.defn(name=JobWorkflowName.EXPORT)
class ExportWorkflow(JobRun):
    """Writes the export file as an artifact (or fails ``export_too_large``)."""

    @workflow.init
    def __init__(self, run: JobRunInput) -> None:
        super().__init__(run)

    @workflow.run
    async def run(self, run: JobRunInput) -> str:
        return await self._lifecycle()

    async def _work(self) -> WorkOutcome:
        return await self._one_activity(JobActivityName.RUN_EXPORT, self._step())


@workflow.defn(name=JobWorkflowName.ACCOUNTING_SYNC)
class AccountingSyncWorkflow(JobRun):
    """One accounting call, tried again on a connection error, timeout or 5xx up to ``max_attempts`` (1 s, 2 s, …
    apart), then the payments of its answer applied in one transaction."""

    @workflow.init
    def __init__(self, run: JobRunInput) -> None:
        super().__init__(run)

    @workflow.run
    async def run(self, run: JobRunInput) -> str:
        return await self._lifecycle()

    async def _work(self) -> WorkOutcome:
        attempt = 0
        while True:
            attempt += 1
            try:
                tried = await workflow.execute_activity(
                    JobActivityName.CALL_ACCOUNTING, self._step(attempt), start_to_close_timeout=CALL_TIMEOUT,
                    retry_policy=CALL_RETRY, result_type=AdapterAttempt)
            except ActivityError as error:
                raise_if_cancelled(error)
                return WorkOutcome(error_code=JobErrorCode.INTERNAL_ERROR, error_message=failure_reason(error))
            self._attempts.append(tried)
            if tried.outcome == AdapterOutcome.OK:
                return await self._one_activity(JobActivityName.APPLY_ACCOUNTING,
                                                self._step(attempt, tried.response_artifact_id))
            if tried.outcome != AdapterOutcome.UNAVAILABLE or attempt >= self._run.max_attempts:
                return WorkOutcome(error_code=ADAPTER_FAILURES[tried.outcome], error_message=tried.error)
            await workflow.sleep(pause_after(attempt))
