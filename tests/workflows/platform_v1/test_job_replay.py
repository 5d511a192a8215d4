"""Determinism of the job workflows: their recorded histories replay on today's code, today's runs replay too,
and a change running jobs could not replay fails the replay (``NondeterminismError``)."""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.workflow import NondeterminismError

from tests.workflows.platform_v1.job_scenarios import HISTORIES, run_scenarios
from tests.workflows.platform_v1.job_variants import AccountingSyncWithoutBackoff, ImportWithoutRunning
from tests.workflows.replay_support import fetched_histories, recorded_history, replayer
from workflows.platform_v1 import PLATFORM_V1_WORKFLOWS

RECORDED = sorted(HISTORIES.glob("*.json"))


def test_every_job_workflow_has_a_recorded_history():
    assert {path.stem for path in RECORDED} == {"import-succeeded", "export-succeeded", "sync-retried-then-succeeded"}


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.stem)
async def test_recorded_history_replays_on_todays_code(path: Path):
    assert (await replayer(PLATFORM_V1_WORKFLOWS).replay_workflow(recorded_history(path))).replay_failure is None


async def test_todays_runs_replay(workflow_env):
    runs = await run_scenarios(workflow_env.client)
    for history in (await fetched_histories(workflow_env.client, runs)).values():
        assert (await replayer(PLATFORM_V1_WORKFLOWS).replay_workflow(history)).replay_failure is None


@pytest.mark.parametrize(("variant", "history"), [(AccountingSyncWithoutBackoff, "sync-retried-then-succeeded"),
                                                  (ImportWithoutRunning, "import-succeeded")])
async def test_a_nondeterministic_change_fails_the_replay(variant: type, history: str):
    with pytest.raises(NondeterminismError):
        await replayer([variant]).replay_workflow(recorded_history(HISTORIES / f"{history}.json"))
