"""The outbox's workflows driven with stub activities, for their workflow and replay tests.

``python -m tests.workflows.platform_v1.scenarios`` records ``histories/*.json`` anew: only for a deliberate
change of the workflows' commands, once no running workflow can meet the old code path (else guard the change
with ``workflow.patched``).
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from temporalio import activity
from temporalio.client import Client
from temporalio.exceptions import ApplicationError
from temporalio.worker import Worker

from models.platform_v1.outbox_io import (
    NotificationTestInput,
    NotificationTestResult,
    OutboxActivityName,
    OutboxWorkflowName,
    RelayBatch,
    RelayResult,
    RelaySweep,
)
from tests.workflows.replay_support import record_scenarios
from worker.main import SANDBOX
from workflows.platform_v1 import PLATFORM_V1_WORKFLOWS

HISTORIES = Path(__file__).resolve().parent / "histories"
BATCH_SIZE = 2


@dataclass
class OutboxStubs:
    """Stub activities: the relay's batches come from ``batches`` in order (then empty ones); the test
    notification answers ``test_answer`` or, with ``test_fails``, fails (counted in ``test_calls``)."""

    batches: list[RelayBatch] = field(default_factory=list)
    test_answer: int | None = 200
    test_fails: bool = False
    relay_calls: int = 0
    test_calls: int = 0

    @property
    def activities(self) -> list:
        @activity.defn(name=OutboxActivityName.DELIVER_DUE_EVENTS)
        async def deliver_due_events(sweep: RelaySweep) -> RelayBatch:
            self.relay_calls += 1
            if self.batches:
                return self.batches.pop(0)
            return RelayBatch(claimed=0, delivered=0, retrying=0, failed=0)

        @activity.defn(name=OutboxActivityName.SEND_TEST_NOTIFICATION)
        async def send_test_notification(test: NotificationTestInput) -> NotificationTestResult:
            self.test_calls += 1
            if self.test_fails:
                raise ApplicationError("the database is unreachable")
            delivered = self.test_answer is not None and 200 <= self.test_answer < 300
            return NotificationTestResult(delivered=delivered, http_status=self.test_answer,
                                          error=None if delivered else "the adapter answered HTTP 500",
                                          duration_ms=12, event_id=test.event_id)

        return [deliver_due_events, send_test_notification]


def full_batch() -> RelayBatch:
    return RelayBatch(claimed=BATCH_SIZE, delivered=1, retrying=1, failed=0)


async def run_scenarios(client: Client) -> dict[str, tuple[str, str]]:
    """Each outbox workflow once: name → (workflow id, run id)."""
    queue = f"platform-v1-replay-{uuid.uuid4().hex[:8]}"
    stubs = OutboxStubs(batches=[full_batch(), RelayBatch(claimed=1, delivered=0, retrying=0, failed=1)])
    runs: dict[str, tuple[str, str]] = {}
    async with Worker(client, task_queue=queue, workflows=PLATFORM_V1_WORKFLOWS, activities=stubs.activities,
                      workflow_runner=SANDBOX):
        for name, workflow, arg, result_type in (
                ("outbox-relay", OutboxWorkflowName.OUTBOX_RELAY, RelaySweep(batch_size=BATCH_SIZE), RelayResult),
                ("notification-test", OutboxWorkflowName.NOTIFICATION_TEST, NotificationTestInput(
                    workspace_id="ws_replay", event_id="evt_replay", message="hello", correlation_id="corr-replay"),
                 NotificationTestResult)):
            handle = await client.start_workflow(workflow, arg, id=f"{queue}:{name}", task_queue=queue,
                                                 result_type=result_type)
            await asyncio.wait_for(handle.result(), 30)
            runs[name] = (handle.id, handle.result_run_id)
    return runs


if __name__ == "__main__":
    asyncio.run(record_scenarios(run_scenarios, HISTORIES))
