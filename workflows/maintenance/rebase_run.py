"""A built-in workspace run of ``patch-stack-rebase``: running, the rebase, its result, then every
attempt linked to the run synced, so a client that never calls sync sees the final status."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError

from models.maintenance.status import RunProcessStatus
from models.maintenance.workflow_io import ActivityName, RebaseRunInput, RunStateWrite, WorkflowName
from workflows.common.failures import failure_reason
from workflows.common.records import RECORDS_RETRY, RECORDS_TIMEOUT, execute_local_write

#: A rebase that failed for a transient reason (a push the remote dropped) is tried again; what the
#: automation decides (conflict, blocked, failed check) is its result, not an error.
REBASE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=2), backoff_coefficient=2.0,
                           maximum_interval=timedelta(seconds=30), maximum_attempts=3)


@workflow.defn(name=WorkflowName.PATCH_STACK_REBASE)
class PatchStackRebaseWorkflow:
    @workflow.run
    async def run(self, request: RebaseRunInput) -> str:
        await self._record(RunStateWrite(run_id=request.run_id, status=RunProcessStatus.RUNNING))
        try:
            result = await workflow.execute_activity(
                ActivityName.REBASE_PATCH_STACK, request,
                start_to_close_timeout=timedelta(seconds=request.rebase_timeout_seconds),
                heartbeat_timeout=timedelta(seconds=request.heartbeat_seconds), retry_policy=REBASE_RETRY,
                result_type=dict)
        except ActivityError as error:
            status, write = RunProcessStatus.FAILED, RunStateWrite(
                run_id=request.run_id, status=RunProcessStatus.FAILED, error=failure_reason(error))
        else:
            status, write = RunProcessStatus.COMPLETED, RunStateWrite(
                run_id=request.run_id, status=RunProcessStatus.COMPLETED, result=result)
        await self._record(write)
        await workflow.execute_activity(ActivityName.SYNC_ATTEMPTS_OF_RUN, request.run_id,
                                        start_to_close_timeout=RECORDS_TIMEOUT, retry_policy=RECORDS_RETRY,
                                        result_type=int)
        return str(write.result.get("status", status)) if write.result else str(status)

    @staticmethod
    async def _record(write: RunStateWrite) -> None:
        await execute_local_write(ActivityName.RECORD_RUN_STATE, write, type(None))
