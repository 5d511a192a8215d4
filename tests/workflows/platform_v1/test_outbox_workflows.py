"""The outbox's workflows on a real Temporal dev server with stub activities: the relay takes batches while
they come full and stops at the first that is not, summing what they did; the notification test makes its one
try and answers it, and a failed try is not tried again. Their recorded histories replay on today's code, and a
nondeterministic change fails the replay."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest
from temporalio.client import WorkflowFailureError
from temporalio.worker import Worker
from temporalio.workflow import NondeterminismError

from models.platform_v1.outbox_io import (
    NotificationTestInput,
    NotificationTestResult,
    OutboxWorkflowName,
    RelayBatch,
    RelayResult,
    RelaySweep,
)
from tests.workflows.platform_v1.scenarios import BATCH_SIZE, HISTORIES, OutboxStubs, full_batch, run_scenarios
from tests.workflows.platform_v1.variants import RelaySendingATestFirst
from tests.workflows.replay_support import fetched_histories, recorded_history, replayer
from worker.main import SANDBOX
from workflows.platform_v1 import PLATFORM_V1_WORKFLOWS, OutboxRelayWorkflow
from workflows.platform_v1.outbox_relay import MAX_BATCHES

RECORDED = sorted(HISTORIES.glob("*.json"))


async def _run(client, stubs: OutboxStubs, workflow: str, arg, result_type):
    queue = f"platform-v1-test-{uuid.uuid4().hex[:8]}"
    async with Worker(client, task_queue=queue, workflows=PLATFORM_V1_WORKFLOWS, activities=stubs.activities,
                      workflow_runner=SANDBOX, max_cached_workflows=0):
        handle = await client.start_workflow(workflow, arg, id=f"{queue}:run", task_queue=queue,
                                             result_type=result_type)
        return await asyncio.wait_for(handle.result(), 30)


async def test_the_relay_takes_batches_while_they_come_full(workflow_env):
    stubs = OutboxStubs(batches=[full_batch(), full_batch(), RelayBatch(claimed=1, delivered=0, retrying=0, failed=1)])
    result = await _run(workflow_env.client, stubs, OutboxWorkflowName.OUTBOX_RELAY,
                        RelaySweep(batch_size=BATCH_SIZE), RelayResult)
    assert result == RelayResult(batches=3, delivered=2, retrying=2, failed=1)
    assert stubs.relay_calls == 3


async def test_a_sweep_with_nothing_due_is_one_batch_and_a_busy_one_stops_at_the_cap(workflow_env):
    idle = OutboxStubs()
    assert (await _run(workflow_env.client, idle, OutboxWorkflowName.OUTBOX_RELAY, RelaySweep(), RelayResult)).batches \
        == 1
    busy = OutboxStubs(batches=[full_batch() for _ in range(MAX_BATCHES + 5)])
    result = await _run(workflow_env.client, busy, OutboxWorkflowName.OUTBOX_RELAY, RelaySweep(batch_size=BATCH_SIZE),
                        RelayResult)
    assert result.batches == MAX_BATCHES and busy.relay_calls == MAX_BATCHES


async def test_the_notification_test_answers_its_one_try(workflow_env):
    test = NotificationTestInput(workspace_id="ws_1", event_id="evt_1", message="hi")
    answered = OutboxStubs(test_answer=500)
    result = await _run(workflow_env.client, answered, OutboxWorkflowName.NOTIFICATION_TEST, test,
                        NotificationTestResult)
    assert (result.delivered, result.http_status, result.event_id) == (False, 500, "evt_1")
    assert answered.test_calls == 1
    failing = OutboxStubs(test_fails=True)
    with pytest.raises(WorkflowFailureError):
        await _run(workflow_env.client, failing, OutboxWorkflowName.NOTIFICATION_TEST, test, NotificationTestResult)
    assert failing.test_calls == 1, "a test notification is never tried twice"


def test_every_outbox_workflow_has_a_recorded_history():
    assert {path.stem for path in RECORDED} == {"outbox-relay", "notification-test"}


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.stem)
async def test_recorded_history_replays_on_todays_code(path: Path):
    assert (await replayer(PLATFORM_V1_WORKFLOWS).replay_workflow(recorded_history(path))).replay_failure is None


async def test_todays_runs_replay(workflow_env):
    runs = await run_scenarios(workflow_env.client)
    for history in (await fetched_histories(workflow_env.client, runs)).values():
        assert (await replayer(PLATFORM_V1_WORKFLOWS).replay_workflow(history)).replay_failure is None


async def test_a_nondeterministic_change_fails_the_replay():
    """The variant is registered under the relay's name, as a careless edit of the class would be."""
    changed = [RelaySendingATestFirst if w is OutboxRelayWorkflow else w for w in PLATFORM_V1_WORKFLOWS]
    with pytest.raises(NondeterminismError):
        await replayer(changed).replay_workflow(recorded_history(HISTORIES / "outbox-relay.json"))
