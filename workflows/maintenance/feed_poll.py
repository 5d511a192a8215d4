"""One poll of one feed source, started by the source's Schedule (or an operator): read the feed
into flow events, then start the dispatch of every event still without one."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

from models.common.records import RECORD_REJECTED_ERROR
from models.maintenance.workflow_io import ActivityName, FeedPollRequest, FeedPollResult, StartDispatches, WorkflowName
from workflows.common.records import RECORDS_RETRY

POLL_TIMEOUT = timedelta(minutes=2)
START_TIMEOUT = timedelta(minutes=5)
#: A feed's own failures (unreadable, too large, redirected away, entries Postgres refuses) are the poll's
#: result, never an activity failure. What fails the activity is Postgres or the network being away: tried
#: a bounded number of times, so a poll that cannot finish ends and the schedule's next one runs.
POLL_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), backoff_coefficient=2.0,
                         maximum_interval=timedelta(seconds=30), maximum_attempts=8,
                         non_retryable_error_types=[RECORD_REJECTED_ERROR])


@workflow.defn(name=WorkflowName.FEED_POLL)
class FeedPollWorkflow:
    @workflow.run
    async def run(self, request: FeedPollRequest) -> FeedPollResult:
        result = await workflow.execute_activity(
            ActivityName.POLL_FEED_SOURCE, request, start_to_close_timeout=POLL_TIMEOUT, retry_policy=POLL_RETRY,
            result_type=FeedPollResult)
        if result.undispatched:
            await workflow.execute_activity(
                ActivityName.START_DISPATCHES, StartDispatches(event_ids=result.undispatched),
                start_to_close_timeout=START_TIMEOUT, heartbeat_timeout=timedelta(seconds=30),
                retry_policy=RECORDS_RETRY, result_type=int)
        return result
