"""Determinism of the maintenance workflows: their recorded histories replay on today's code, today's runs
replay too (so the histories can always be re-recorded), and a change running executions could not
replay fails the replay (``NondeterminismError``) rather than passing unnoticed."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.workflow import NondeterminismError

from tests.workflows.maintenance.scenarios import HISTORIES, run_scenarios
from tests.workflows.maintenance.variants import FeedPollDispatchingFirst, RebaseRunWithoutRunningState
from tests.workflows.replay_support import fetched_histories, recorded_history, replayer
from workflows.maintenance import MAINTENANCE_WORKFLOWS, FeedPollWorkflow, PatchStackRebaseWorkflow

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_every_maintenance_workflow_has_a_recorded_history():
    assert {path.stem for path in RECORDED} == {"feed-poll", "dispatch", "rebase-run", "attempt-sync"}


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.stem)
async def test_recorded_history_replays_on_todays_code(path: Path):
    assert (await replayer(MAINTENANCE_WORKFLOWS).replay_workflow(recorded_history(path))).replay_failure is None


async def test_todays_runs_replay(workflow_env):
    runs = await run_scenarios(workflow_env.client)
    for history in (await fetched_histories(workflow_env.client, runs)).values():
        assert (await replayer(MAINTENANCE_WORKFLOWS).replay_workflow(history)).replay_failure is None


@pytest.mark.parametrize(("history", "replaced", "variant"), [
    ("feed-poll", FeedPollWorkflow, FeedPollDispatchingFirst),
    ("rebase-run", PatchStackRebaseWorkflow, RebaseRunWithoutRunningState),
], ids=["feed-poll-another-activity-first", "rebase-run-a-write-left-out"])
async def test_a_nondeterministic_change_fails_the_replay(history: str, replaced: type, variant: type):
    """The variant is registered under the real workflow's name, as a careless edit of the class would be."""
    changed = [variant if workflow is replaced else workflow for workflow in MAINTENANCE_WORKFLOWS]
    with pytest.raises(NondeterminismError):
        await replayer(changed).replay_workflow(recorded_history(HISTORIES / f"{history}.json"))
