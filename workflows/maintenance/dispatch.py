"""One dispatch of a flow event: hand it to the workspace backend, record it, start the runs.

The intake starts one per new event (its id is the event's); an operator's retry or replay starts
another. The activity writes the dispatch record and the attempt; built-in runs it created are
started here as child workflows that outlive this one (``ABANDON``), so the Web UI links them.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.workflow import ParentClosePolicy

from models.maintenance.workflow_io import (
    ActivityName,
    DispatchCall,
    DispatchOutcome,
    DispatchRequest,
    RebaseRunInput,
    WorkflowName,
)
from workflows.common.records import RECORDS_RETRY

#: Bounded by the HTTP backend's own timeout; the rest is Postgres.
DISPATCH_TIMEOUT = timedelta(minutes=2)


@workflow.defn(name=WorkflowName.FLOW_EVENT_DISPATCH)
class FlowEventDispatchWorkflow:
    @workflow.run
    async def run(self, request: DispatchRequest) -> DispatchOutcome:
        info = workflow.info()
        outcome = await workflow.execute_activity(
            ActivityName.DISPATCH_FLOW_EVENT,
            DispatchCall(event_id=request.event_id, operation=request.operation,
                         dispatch_key=f"{info.workflow_id}/{info.run_id}"),
            start_to_close_timeout=DISPATCH_TIMEOUT, retry_policy=RECORDS_RETRY, result_type=DispatchOutcome)
        for start in outcome.start_runs:
            try:
                await workflow.start_child_workflow(
                    WorkflowName.PATCH_STACK_REBASE,
                    RebaseRunInput(run_id=start.run_id, event_id=start.event_id,
                                   heartbeat_seconds=outcome.heartbeat_seconds,
                                   rebase_timeout_seconds=outcome.rebase_timeout_seconds),
                    id=start.workflow_id,
                    parent_close_policy=ParentClosePolicy.ABANDON)
            except WorkflowAlreadyStartedError:
                pass  # started by an earlier try of this dispatch
        return outcome
