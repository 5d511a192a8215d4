"""One poll of one feed source, started by the source's Schedule (or an operator): read the feed
into flow events, then start the dispatch of every event still without one."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from models.maintenance.workflow_io import ActivityName, FeedPollRequest, FeedPollResult, StartDispatches, WorkflowName
from workflows.common.records import RECORDS_RETRY

POLL_TIMEOUT = timedelta(minutes=2)
START_TIMEOUT = timedelta(minutes=5)


@workflow.defn(name=WorkflowName.FEED_POLL)
class FeedPollWorkflow:
    @workflow.run
    async def run(self, request: FeedPollRequest) -> FeedPollResult:
        # A feed that fails is a result (the poll records its error); only Postgres trouble retries.
        result = await workflow.execute_activity(
            ActivityName.POLL_FEED_SOURCE, request, start_to_close_timeout=POLL_TIMEOUT, retry_policy=RECORDS_RETRY,
            result_type=FeedPollResult)
        if result.undispatched:
            await workflow.execute_activity(
                ActivityName.START_DISPATCHES, StartDispatches(event_ids=result.undispatched),
                start_to_close_timeout=START_TIMEOUT, heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RECORDS_RETRY, result_type=int)
        return result
