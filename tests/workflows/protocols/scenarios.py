"""The runs whose histories the replay test keeps: a full protocol, a cancelled one, one
that continued as new, and one acted on after it finished. ``record_histories`` drives them
and writes each run's history to ``histories/<name>.json``; ``test_replay`` replays those
files against today's code."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from models.protocols.workflow_io import CiOutcome, Update
from tests import factories as f
from tests.workflows.harness import WAIT_SECONDS, ProtocolRunHarness
from tests.workflows.protocols.stubs import execution_failed

HISTORIES = Path(__file__).with_name("histories")
#: Small enough that the run continues as new after its first actions.
CONTINUE_AS_NEW_AFTER = 30


@dataclass(frozen=True)
class RecordedRun:
    """One workflow run of a scenario: its history is ``histories/<name>.json``."""

    name: str
    workflow_id: str
    run_id: str

    @property
    def path(self) -> Path:
        return HISTORIES / f"{self.name}.json"


async def full_protocol(harness: ProtocolRunHarness) -> list[RecordedRun]:
    """Plan two steps; run, QA; pause, resume; run the second, CI running then failing, retry,
    open the pull request, approve: the run completes."""
    stubs = harness.stubs
    stubs.plan.steps = [f.new_step(0, step_name="00-setup.md"), f.new_step(1, step_name="01-build.md")]
    project = f.project_snapshot(forge_repository="acme/demo")
    handle = await harness.start(f.run_input(project=project, id=101), workflow_id="protocol-run-101")
    first_run = (await handle.describe()).run_id

    await harness.act_and_settle(handle, Update.START)
    step_1 = (await harness.act_and_settle(handle, Update.RUN_NEXT_STEP)).step_id
    await harness.act_and_settle(handle, Update.STEP_RUN_QA, step_id=step_1)
    await harness.act(handle, Update.PAUSE)
    await harness.act_and_settle(handle, Update.RESUME)
    step_2 = (await harness.act_and_settle(handle, Update.RUN_NEXT_STEP)).step_id
    await harness.report_ci(handle, f.ci_report(CiOutcome.RUNNING, status="in_progress", delivery_id="d-1"))
    await harness.report_ci(handle, f.ci_report(CiOutcome.FAILURE, status="failure", delivery_id="d-2"))
    await harness.act_and_settle(handle, Update.RETRY_LATEST)
    await harness.act_and_settle(handle, Update.OPEN_PR)
    await harness.act(handle, Update.STEP_APPROVE, step_id=step_2)
    assert await harness.settle(handle) == "completed"  # the workflow stays open: the run still takes actions
    return [RecordedRun("full-protocol", handle.id, first_run)]


async def cancelled_protocol(harness: ProtocolRunHarness) -> list[RecordedRun]:
    """Plan two steps, start the first and cancel the run while it executes."""
    stubs = harness.stubs
    stubs.plan.steps = [f.new_step(0), f.new_step(1)]
    handle = await harness.start(f.run_input(id=102), workflow_id="protocol-run-102")
    first_run = (await handle.describe()).run_id

    await harness.act_and_settle(handle, Update.START)
    stubs.hold_execution()
    await harness.act(handle, Update.RUN_NEXT_STEP)
    await asyncio.wait_for(stubs.execution_started.wait(), WAIT_SECONDS)
    await harness.act(handle, Update.CANCEL)
    await asyncio.wait_for(stubs.execution_cancelled.wait(), WAIT_SECONDS)
    assert await harness.settle(handle) == "cancelled"
    return [RecordedRun("cancelled", handle.id, first_run)]


async def continued_as_new(harness: ProtocolRunHarness) -> list[RecordedRun]:
    """A run with a tiny history limit: a step fails and is retried, CI reports, QA is queued
    while paused; the run continues as new (more than once) and its last run completes."""
    stubs = harness.stubs
    stubs.execute_results = [execution_failed()]
    run = f.run_input(id=103, status="planned", steps=f.step_states("pending", "pending"),
                      options=f.run_options(continue_as_new_after_events=CONTINUE_AS_NEW_AFTER))
    handle = await harness.start(run, workflow_id="protocol-run-103")
    first_run = (await handle.describe()).run_id

    await harness.act_and_settle(handle, Update.RUN_NEXT_STEP)
    await harness.act_and_settle(handle, Update.RETRY_LATEST)
    await harness.report_ci(handle, f.ci_report(CiOutcome.RUNNING, status="in_progress", delivery_id="d-1"))
    await harness.act(handle, Update.PAUSE)
    await harness.act_and_settle(handle, Update.STEP_RUN_QA, step_id=1)
    await harness.act_and_settle(handle, Update.RESUME)
    await harness.act_and_settle(handle, Update.STEP_RUN, step_id=2)
    await harness.act(handle, Update.STEP_APPROVE, step_id=2)
    assert await harness.settle(handle) == "completed"
    runs = await harness.run_chain(handle.id, first_run)
    assert len(runs) > 1, "the run never continued as new"
    return [RecordedRun(f"continued-as-new.{i}", handle.id, run_id) for i, run_id in enumerate(runs, 1)]


async def acted_on_after_finishing(harness: ProtocolRunHarness) -> list[RecordedRun]:
    """CI fails before any step ran (the step created last fails, the run is blocked); retry it, approve both:
    the run completes, and its workflow, still open, opens the pull request and is cancelled."""
    project = f.project_snapshot(forge_repository="acme/demo")
    run = f.run_input(id=104, project=project, status="planned", steps=f.step_states("pending", "pending"))
    handle = await harness.start(run, workflow_id="protocol-run-104")
    first_run = (await handle.describe()).run_id

    assert await harness.report_ci(handle, f.ci_report(CiOutcome.FAILURE, status="failure", delivery_id="d-1")) \
        == "blocked"
    await harness.act_and_settle(handle, Update.RETRY_LATEST)
    await harness.act(handle, Update.STEP_APPROVE, step_id=1)
    await harness.act(handle, Update.STEP_APPROVE, step_id=2)
    assert await harness.settle(handle) == "completed"
    await harness.act_and_settle(handle, Update.OPEN_PR)
    await harness.act(handle, Update.CANCEL)
    assert await harness.settle(handle) == "cancelled"
    assert (await handle.describe()).run_id == first_run  # one execution did it all
    return [RecordedRun("acted-on-after-finishing", handle.id, first_run)]


Scenario = Callable[[ProtocolRunHarness], Awaitable[list[RecordedRun]]]
SCENARIOS: list[Scenario] = [full_protocol, cancelled_protocol, continued_as_new, acted_on_after_finishing]

#: The workflow id of each recorded scenario, by the name its files start with.
WORKFLOW_IDS: dict[str, str] = {
    "full-protocol": "protocol-run-101",
    "cancelled": "protocol-run-102",
    "continued-as-new": "protocol-run-103",
    "acted-on-after-finishing": "protocol-run-104",
}
