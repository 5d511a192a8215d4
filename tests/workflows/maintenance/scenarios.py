"""The maintenance workflows driven with stub activities, for their replay test.

``python -m tests.workflows.maintenance.scenarios`` records ``histories/*.json`` anew:
only for a deliberate change of the workflows' commands, once no running workflow can meet the old
code path (else guard the change with ``workflow.patched``).
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.worker import Worker

from models.maintenance.workflow_io import (
    ActivityName,
    DispatchCall,
    DispatchOutcome,
    DispatchRequest,
    FeedPollRequest,
    FeedPollResult,
    RebaseRunInput,
    RunStart,
    RunStateWrite,
    StartDispatches,
    SyncOutcome,
    SyncRequest,
    WorkflowName,
    workspace_run_workflow_id,
)
from tests.workflows.replay_support import record_scenarios
from worker.main import SANDBOX
from workflows.maintenance import MAINTENANCE_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"
EVENT = {"id": "patch:src:v1.1.0:upstream.release", "type": "upstream.release", "source": "patch",
         "receivedAt": "2026-05-13T00:00:01.000Z", "payload": {"forkUrl": "/srv/fork.git", "tag": "v1.1.0"}}


@activity.defn(name=ActivityName.POLL_FEED_SOURCE)
async def poll_feed_source(request: FeedPollRequest) -> FeedPollResult:
    return FeedPollResult(source_id=request.source_id, entries=2, events=[EVENT["id"]], undispatched=[EVENT["id"]])


@activity.defn(name=ActivityName.START_DISPATCHES)
async def start_flow_event_dispatches(request: StartDispatches) -> int:
    return len(request.event_ids)


@activity.defn(name=ActivityName.DISPATCH_FLOW_EVENT)
async def dispatch_flow_event(call: DispatchCall) -> DispatchOutcome:
    record = {"eventId": call.event_id, "operation": call.operation, "status": "dispatched", "runIds": ["run-1"]}
    run_id = f"run-{uuid.uuid4().hex[:8]}"
    start = RunStart(run_id=run_id, event_id=call.event_id,
                     workflow_id=workspace_run_workflow_id(activity.info().task_queue, run_id))
    return DispatchOutcome(event=EVENT, record=record, attempt={"id": "a", "status": "started"}, start_runs=[start])


@activity.defn(name=ActivityName.RECORD_RUN_STATE)
async def record_workspace_run_state(write: RunStateWrite) -> None:
    return None


@activity.defn(name=ActivityName.REBASE_PATCH_STACK)
async def rebase_patch_stack(request: RebaseRunInput) -> dict:
    return {"status": "changed", "message": "rebased", "artifacts": {"candidateRefs": []}}


@activity.defn(name=ActivityName.SYNC_ATTEMPTS_OF_RUN)
async def sync_attempts_of_run(run_id: str) -> int:
    return 1


@activity.defn(name=ActivityName.SYNC_ATTEMPT)
async def sync_maintenance_attempt(request: SyncRequest) -> SyncOutcome:
    return SyncOutcome(attempt={"id": request.attempt_id, "status": "changed"}, appended=True)


STUBS = [poll_feed_source, start_flow_event_dispatches, dispatch_flow_event, record_workspace_run_state,
         rebase_patch_stack, sync_attempts_of_run, sync_maintenance_attempt]


async def run_scenarios(client: Client) -> dict[str, tuple[str, str]]:
    """Each maintenance workflow once: name → (workflow id, run id)."""
    queue = f"maintenance-replay-{uuid.uuid4().hex[:8]}"
    runs: dict[str, tuple[str, str]] = {}
    async with Worker(client, task_queue=queue, workflows=MAINTENANCE_WORKFLOWS, activities=STUBS,
                      workflow_runner=SANDBOX):
        for name, workflow, arg, result_type in (
                ("feed-poll", WorkflowName.FEED_POLL, FeedPollRequest(source_id="src"), FeedPollResult),
                ("dispatch", WorkflowName.FLOW_EVENT_DISPATCH, DispatchRequest(event_id=EVENT["id"]), DispatchOutcome),
                ("attempt-sync", WorkflowName.ATTEMPT_SYNC, SyncRequest(attempt_id="a"), SyncOutcome)):
            handle = await client.start_workflow(workflow, arg, id=f"{queue}:{name}", task_queue=queue,
                                                 result_type=result_type)
            result = await asyncio.wait_for(handle.result(), 30)
            runs[name] = (handle.id, handle.result_run_id)
            if name == "dispatch":
                child = client.get_workflow_handle(result.start_runs[0].workflow_id)
                await asyncio.wait_for(child.result(), 30)
                runs["rebase-run"] = (child.id, (await child.describe()).run_id)
    return runs


if __name__ == "__main__":
    asyncio.run(record_scenarios(run_scenarios, HISTORIES))
