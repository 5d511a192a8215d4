"""A deliberately nondeterministic change of ``AccountingSyncWorkflow``, registered under the real workflow's
name: it skips the pause between tries (a timer removed), as a careless edit could; and an
``ImportWorkflow`` that does its work without recording ``running``. Replaying a recorded history against
either must fail."""

from __future__ import annotations

from temporalio import workflow

from models.platform_v1.executions import ExecutionStatus
from models.platform_v1.job_io import (
    AdapterAttempt,
    AdapterOutcome,
    JobActivityName,
    JobRunInput,
    JobWorkflowName,
    WorkOutcome,
)
from models.platform_v1.jobs import JobErrorCode
from workflows.platform_v1.jobs import CALL_RETRY, CALL_TIMEOUT, AccountingSyncWorkflow, JobRun


@workflow.defn(name=JobWorkflowName.ACCOUNTING_SYNC)
class AccountingSyncWithoutBackoff(AccountingSyncWorkflow):
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
            tried = await workflow.execute_activity(
                JobActivityName.CALL_ACCOUNTING, self._step(attempt), start_to_close_timeout=CALL_TIMEOUT,
                retry_policy=CALL_RETRY, result_type=AdapterAttempt)
            if tried.outcome == AdapterOutcome.OK:
                return await self._one_activity(JobActivityName.APPLY_ACCOUNTING,
                                                self._step(attempt, tried.response_artifact_id))
            if attempt >= self._run.max_attempts:
                return WorkOutcome(error_code=JobErrorCode.ADAPTER_UNAVAILABLE, error_message=tried.error)


@workflow.defn(name=JobWorkflowName.IMPORT)
class ImportWithoutRunning(JobRun):
    """The import doing its work without recording ``running`` first (an activity removed)."""

    @workflow.init
    def __init__(self, run: JobRunInput) -> None:
        super().__init__(run)

    @workflow.run
    async def run(self, run: JobRunInput) -> str:
        await workflow.wait_condition(lambda: self._status is not None)
        outcome = await self._one_activity(JobActivityName.RUN_IMPORT, self._step())
        began = workflow.now()
        await self._end(outcome, ExecutionStatus.SUCCEEDED, began)
        return "succeeded"
