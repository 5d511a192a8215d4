"""An operator's sync of one maintenance attempt (``POST /maintenance-attempts/{id}/sync``)."""

from __future__ import annotations

from temporalio import workflow

from models.maintenance.workflow_io import ActivityName, SyncOutcome, SyncRequest, WorkflowName
from workflows.common.records import RECORDS_RETRY, RECORDS_TIMEOUT


@workflow.defn(name=WorkflowName.ATTEMPT_SYNC)
class AttemptSyncWorkflow:
    @workflow.run
    async def run(self, request: SyncRequest) -> SyncOutcome:
        return await workflow.execute_activity(ActivityName.SYNC_ATTEMPT, request,
                                               start_to_close_timeout=RECORDS_TIMEOUT, retry_policy=RECORDS_RETRY,
                                               result_type=SyncOutcome)
