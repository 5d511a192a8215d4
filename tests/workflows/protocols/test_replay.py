"""Determinism: recorded histories of real ``ProtocolRunWorkflow`` runs replay against today's code.

A workflow still running when a worker is upgraded is replayed by the new code; if that code
issues other commands than the history holds, the run is stuck. These histories (recorded by
``python -m tests.workflows.protocols.record_histories``) stand for such runs, so a change that breaks
them fails here. Deliberate changes: docs/architecture.md, "Determinism and replay tests".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer
from temporalio.workflow import NondeterminismError

from tests.workflows.harness import harness_for
from tests.workflows.protocols.scenarios import HISTORIES, SCENARIOS, WORKFLOW_IDS
from tests.workflows.protocols.stubs import StubActivities
from tests.workflows.protocols.variants import ProtocolRunSleepingFirst
from tests.workflows.replay_support import replayer as replayer_of
from workflows.protocols.protocol_run import ProtocolRunWorkflow

#: Today's histories, plus frozen ones of earlier command shapes still behind a patch
#: (``v1-activity-writes``: record writes as activities, before ``LOCAL_RECORD_WRITES``;
#: ``v2-closed-when-finished``: workflows that returned when the run finished, before ``STAYS_OPEN``, and
#: a CI failure before any step ran left unmatched, before ``CI_TO_THE_LATEST_CREATED_STEP``).
CURRENT = sorted(HISTORIES.glob("*.json"))
RECORDED = sorted(HISTORIES.glob("**/*.json"))
#: Frozen runs of no scenario of today (recorded once with the code before a patch).
FROZEN_WORKFLOW_IDS = {"ci-before-any-step": "protocol-run-105"}


def replayer_of_todays_code() -> Replayer:
    """The workflow as the worker runs it: same sandbox, same payload converter."""
    return replayer_of([ProtocolRunWorkflow])


def workflow_id_of(path: Path) -> str:
    """``continued-as-new.2.json`` is a run of scenario ``continued-as-new``."""
    name = path.name.split(".")[0]
    return WORKFLOW_IDS.get(name) or FROZEN_WORKFLOW_IDS[name]


def test_every_scenario_has_recorded_histories():
    scenarios = [path.name.split(".")[0] for path in CURRENT]
    assert set(scenarios) == set(WORKFLOW_IDS)
    assert scenarios.count("continued-as-new") > 1


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: str(path.relative_to(HISTORIES).with_suffix("")))
async def test_recorded_history_replays_on_todays_code(path: Path):
    history = WorkflowHistory.from_json(workflow_id_of(path), path.read_text())
    replayer = replayer_of_todays_code()

    result = await replayer.replay_workflow(history)  # raises on a non-deterministic change

    assert result.replay_failure is None


@pytest.mark.parametrize("path", [HISTORIES / "full-protocol.json",
                                  HISTORIES / "v2-closed-when-finished" / "full-protocol.json"],
                         ids=["today", "v2-closed-when-finished"])
async def test_a_change_that_issues_another_command_first_fails_replay(path: Path):
    """The guard works: the same workflow with one unguarded command added (a timer before anything else)
    cannot replay what a running workflow already did."""
    history = WorkflowHistory.from_json(workflow_id_of(path), path.read_text())
    replayer = replayer_of([ProtocolRunSleepingFirst])

    with pytest.raises(NondeterminismError):
        await replayer.replay_workflow(history)


@pytest.mark.parametrize("scenario", SCENARIOS, ids=lambda scenario: scenario.__name__)
async def test_scenarios_still_run_and_their_fresh_histories_replay(workflow_env, scenario):
    """The recorder's scenarios work on today's code, so the histories can always be re-recorded."""
    async with harness_for(workflow_env.client, StubActivities()) as harness:
        runs = await scenario(harness)
    replayer = replayer_of_todays_code()
    for run in runs:
        history = await workflow_env.client.get_workflow_handle(run.workflow_id, run_id=run.run_id).fetch_history()
        assert (await replayer.replay_workflow(history)).replay_failure is None
