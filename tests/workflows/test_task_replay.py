"""Determinism of ``CodingTaskWorkflow``: its recorded histories (success, watchdog, stop, a Fly machine)
replay on today's code, and today's runs replay too (so the histories can always be re-recorded)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from temporalio.client import WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from tests.workflows.task_scenarios import HISTORIES, SCENARIOS, run_scenarios
from worker.main import SANDBOX
from workflows.tasks import TASK_WORKFLOWS

RECORDED = sorted(HISTORIES.glob("*.json"))


def replayer() -> Replayer:
    return Replayer(workflows=TASK_WORKFLOWS, workflow_runner=SANDBOX, data_converter=pydantic_data_converter)


def test_every_scenario_has_a_recorded_history():
    assert {path.stem for path in RECORDED} == set(SCENARIOS)


@pytest.mark.parametrize("path", RECORDED, ids=lambda path: path.stem)
async def test_recorded_history_replays_on_todays_code(path: Path):
    workflow_id = json.loads(path.read_text())["events"][0]["workflowExecutionStartedEventAttributes"].get(
        "workflowId", path.stem)
    history = WorkflowHistory.from_json(workflow_id, path.read_text())
    assert (await replayer().replay_workflow(history)).replay_failure is None


async def test_todays_runs_replay(workflow_env):
    runs = await run_scenarios(workflow_env.client)
    for workflow_id, run_id in runs.values():
        history = await workflow_env.client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
        assert (await replayer().replay_workflow(history)).replay_failure is None
