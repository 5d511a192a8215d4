"""Deliberately nondeterministic changes of the maintenance workflows: each is registered under the real
workflow's name, so replaying a recorded history against it shows what the replay test guards against."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from models.maintenance.workflow_io import (
    ActivityName,
    FeedPollRequest,
    FeedPollResult,
    RebaseRunInput,
    StartDispatches,
    WorkflowName,
)


@workflow.defn(name=WorkflowName.FEED_POLL)
class FeedPollDispatchingFirst:
    """Starts the dispatches before reading the feed: a different activity first."""

    @workflow.run
    async def run(self, request: FeedPollRequest) -> FeedPollResult:
        await workflow.execute_activity(ActivityName.START_DISPATCHES, StartDispatches(event_ids=[]),
                                        start_to_close_timeout=timedelta(minutes=1), result_type=int)
        return await workflow.execute_activity(ActivityName.POLL_FEED_SOURCE, request,
                                               start_to_close_timeout=timedelta(minutes=1), result_type=FeedPollResult)


@workflow.defn(name=WorkflowName.PATCH_STACK_REBASE)
class RebaseRunWithoutRunningState:
    """Runs the rebase without first recording the run as ``running`` (a local activity left out)."""

    @workflow.run
    async def run(self, request: RebaseRunInput) -> str:
        result = await workflow.execute_activity(ActivityName.REBASE_PATCH_STACK, request,
                                                 start_to_close_timeout=timedelta(minutes=1), result_type=dict)
        return str(result.get("status"))
