"""Determinism of the coding-tasks workflows: their recorded histories replay on today's code (runs started
by the ``enqueue`` Update, and runs recorded before it existed), today's runs replay too (so the histories
can always be re-recorded), and a change running executions could not replay fails the replay
(``NondeterminismError``) rather than passing unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.workflow import NondeterminismError

from tests.workflows.replay_support import fetched_histories, recorded_history, replayer
from tests.workflows.tasks.scenarios import BEFORE_ENQUEUE, HISTORIES, SCENARIOS, STATUS_CHANGE, run_scenarios
from tests.workflows.tasks.variants import EnqueueWithoutThePatch, MintingBeforeReacting
from workflows.tasks import TASK_WORKFLOWS, CodingTaskWorkflow

RECORDED = sorted(HISTORIES.glob("*.json"))
RECORDED_BEFORE_ENQUEUE = sorted(BEFORE_ENQUEUE.glob("*.json"))


def test_every_scenario_has_a_recorded_history():
    assert {path.stem for path in RECORDED} == {*SCENARIOS, STATUS_CHANGE}
    assert {path.stem for path in RECORDED_BEFORE_ENQUEUE} == {"success", "timed-out", "stopped", "fly-success"}


@pytest.mark.parametrize("path", [*RECORDED, *RECORDED_BEFORE_ENQUEUE],
                         ids=lambda path: f"{path.parent.name}/{path.stem}")
async def test_recorded_history_replays_on_todays_code(path: Path):
    assert (await replayer(TASK_WORKFLOWS).replay_workflow(recorded_history(path))).replay_failure is None


async def test_todays_runs_replay(workflow_env):
    runs = await run_scenarios(workflow_env.client)
    for history in (await fetched_histories(workflow_env.client, runs)).values():
        assert (await replayer(TASK_WORKFLOWS).replay_workflow(history)).replay_failure is None


@pytest.mark.parametrize(("path", "variant"), [
    (HISTORIES / "success.json", MintingBeforeReacting),
    (BEFORE_ENQUEUE / "success.json", MintingBeforeReacting),
    (BEFORE_ENQUEUE / "stopped.json", EnqueueWithoutThePatch),
], ids=["another-activity-first", "another-activity-first-before-enqueue", "enqueue-without-the-patch"])
async def test_a_nondeterministic_change_fails_the_replay(path: Path, variant: type):
    """The variant is registered under the real workflow's name, as a careless edit of the class would be."""
    changed = [variant if workflow is CodingTaskWorkflow else workflow for workflow in TASK_WORKFLOWS]
    with pytest.raises(NondeterminismError):
        await replayer(changed).replay_workflow(recorded_history(path))
