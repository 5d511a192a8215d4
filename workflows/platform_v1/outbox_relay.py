"""``OutboxRelayWorkflow``: one sweep of the transactional outbox, started by its Temporal Schedule every
``CAPSTAN_OUTBOX_SWEEP_SECONDS`` (overlap skip) and, between sweeps, by the API's nudge after a write that
emitted an event. Each batch is one activity that claims due deliveries ``FOR UPDATE SKIP LOCKED``, makes
them and records each outcome; a full batch means more may be due, so the sweep takes another, up to
``MAX_BATCHES``. Retries wait in Postgres (``next_attempt_at``), not here: the history holds only counts.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from models.platform_v1.outbox_io import OutboxActivityName, OutboxWorkflowName, RelayBatch, RelayResult, RelaySweep
    from workflows.common.retry import bounded_retry

#: A batch's POSTs run side by side, each within its adapter's timeout (at most 30 s).
BATCH_TIMEOUT = timedelta(seconds=60)
#: A batch whose database write failed is tried again a few times; the next sweep carries on after that.
BATCH_RETRY = bounded_retry(3)
#: Batches per sweep: the rest waits for the next one (a sweep stays short, its history small).
MAX_BATCHES = 20


@workflow.defn(name=OutboxWorkflowName.OUTBOX_RELAY)
class OutboxRelayWorkflow:
    @workflow.run
    async def run(self, sweep: RelaySweep) -> RelayResult:
        result = RelayResult(batches=0, delivered=0, retrying=0, failed=0)
        for _ in range(MAX_BATCHES):
            batch: RelayBatch = await workflow.execute_activity(
                OutboxActivityName.DELIVER_DUE_EVENTS, sweep, start_to_close_timeout=BATCH_TIMEOUT,
                retry_policy=BATCH_RETRY, result_type=RelayBatch)
            result.batches += 1
            result.delivered += batch.delivered
            result.retrying += batch.retrying
            result.failed += batch.failed
            if batch.claimed < sweep.batch_size:
                break
        return result
