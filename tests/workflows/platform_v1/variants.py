"""A deliberately nondeterministic change of the relay, registered under the real workflow's name, so replaying
a recorded history against it shows what the replay test guards against."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.platform_v1.outbox_io import (
        NotificationTestInput,
        OutboxActivityName,
        OutboxWorkflowName,
        RelayBatch,
        RelayResult,
        RelaySweep,
    )


@workflow.defn(name=OutboxWorkflowName.OUTBOX_RELAY)
class RelaySendingATestFirst:
    """Sends a test notification before its first batch: a different activity first."""

    @workflow.run
    async def run(self, sweep: RelaySweep) -> RelayResult:
        await workflow.execute_activity(OutboxActivityName.SEND_TEST_NOTIFICATION,
                                        NotificationTestInput(workspace_id="ws", event_id="evt"),
                                        start_to_close_timeout=timedelta(minutes=1))
        batch = await workflow.execute_activity(OutboxActivityName.DELIVER_DUE_EVENTS, sweep,
                                                start_to_close_timeout=timedelta(minutes=1), result_type=RelayBatch)
        return RelayResult(batches=1, delivered=batch.delivered, retrying=batch.retrying, failed=batch.failed)
