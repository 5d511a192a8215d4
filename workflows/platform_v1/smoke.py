"""``PlatformSmokeWorkflow``: is the platform's execution path alive? An execution of type ``smoke``.

Checks, each recorded with its duration: ``worker`` (this workflow task ran, and an activity after it),
``database`` (the activity wrote the execution's record and read it back), and with a target ``agent`` (one
call of the reasoner, not retried, answered 2xx). The run ends its record like every execution (evidence,
one ``workflow.completed``) and returns the checks; ``POST /agent-runtime/smoke`` waits up to 30 s for them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

with workflow.unsafe.imports_passed_through():
    from models.platform_v1.executions import ExecutionStatus, FailureCode
    from models.platform_v1.workflow_io import (
        ActivityName,
        AgentCall,
        AttemptResult,
        CallOutcome,
        EndedWrite,
        SmokeCheck,
        SmokeInput,
        SmokeRecord,
        SmokeResult,
        WorkflowName,
    )
    from workflows.common.failures import failure_reason
    from workflows.common.records import RECORDS_RETRY, RECORDS_TIMEOUT

#: A smoke check tries once: its point is to tell what fails now.
ONCE = RetryPolicy(maximum_attempts=1)
CHECK_TIMEOUT = timedelta(seconds=20)


def _ms(delta: timedelta) -> int:
    return max(0, int(delta.total_seconds() * 1000))


@workflow.defn(name=WorkflowName.PLATFORM_SMOKE)
class PlatformSmokeWorkflow:
    @workflow.run
    async def run(self, smoke: SmokeInput) -> SmokeResult:
        began = workflow.now()
        info = workflow.info()
        checks: list[SmokeCheck] = []
        worker_detail = f"a workflow task ran on {info.task_queue}"
        try:
            database = await workflow.execute_activity(
                ActivityName.SMOKE_DATABASE, SmokeRecord(run=smoke, workflow_id=info.workflow_id, run_id=info.run_id,
                                                         started_at=began),
                start_to_close_timeout=CHECK_TIMEOUT, retry_policy=ONCE, result_type=SmokeCheck)
        except ActivityError as error:
            checks.append(SmokeCheck(name="worker", status="failed", duration_ms=_ms(workflow.now() - began),
                                     detail=f"{worker_detail}; its activity failed: {failure_reason(error)}"))
            checks.append(SmokeCheck(name="database", status="failed", duration_ms=0, detail=failure_reason(error)))
            return SmokeResult(status="failed", execution_id=smoke.execution_id,
                               duration_ms=_ms(workflow.now() - began), checks=checks)
        checks.append(SmokeCheck(name="worker", status="passed", duration_ms=_ms(workflow.now() - began),
                                 detail=f"{worker_detail}, and an activity"))
        checks.append(database)
        attempts: list[AttemptResult] = []
        if smoke.target is not None and smoke.input_artifact_id is not None:
            attempts.append(await self._call(smoke))
            outcome = attempts[0]
            passed = outcome.outcome in (CallOutcome.OUTPUT, CallOutcome.ACCEPTED)
            checks.append(SmokeCheck(name="agent", status="passed" if passed else "failed",
                                     duration_ms=outcome.duration_ms,
                                     detail=f"{smoke.target.name} answered HTTP {outcome.http_status}" if passed
                                     else outcome.error or str(outcome.outcome)))
        failed = [check for check in checks if check.status != "passed"]
        ended = workflow.now()
        await workflow.execute_activity(
            ActivityName.RECORD_EXECUTION_ENDED,
            EndedWrite(execution_id=smoke.execution_id, workspace_id=smoke.workspace_id, run_id=info.run_id,
                       workflow_id=info.workflow_id,
                       status=ExecutionStatus.FAILED if failed else ExecutionStatus.SUCCEEDED,
                       failure_code=FailureCode.INTERNAL_ERROR if failed else None,
                       failure_message="; ".join(f"{check.name}: {check.detail}" for check in failed) or None,
                       output_artifact_id=None, completed_at=ended, duration_ms=_ms(ended - began),
                       target=smoke.target, attempts=attempts),
            start_to_close_timeout=RECORDS_TIMEOUT, retry_policy=RECORDS_RETRY, result_type=bool)
        return SmokeResult(status="failed" if failed else "passed", execution_id=smoke.execution_id,
                           duration_ms=_ms(ended - began), checks=checks)

    async def _call(self, smoke: SmokeInput) -> AttemptResult:
        assert smoke.target is not None and smoke.input_artifact_id is not None
        call = AgentCall(execution_id=smoke.execution_id, workspace_id=smoke.workspace_id,
                         correlation_id=smoke.correlation_id, target=smoke.target,
                         input_artifact_id=smoke.input_artifact_id, attempt=1, run_id=workflow.info().run_id)
        try:
            return await workflow.execute_activity(
                ActivityName.CALL_AGENT, call, start_to_close_timeout=timedelta(seconds=smoke.target.timeout_seconds)
                + CHECK_TIMEOUT, retry_policy=ONCE, result_type=AttemptResult)
        except ActivityError as error:
            return AttemptResult(attempt=1, outcome=CallOutcome.UNAVAILABLE, started_at=workflow.now(),
                                 duration_ms=0, error=failure_reason(error))
