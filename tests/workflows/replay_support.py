"""What the replay tests of each workflow family share: a replayer with the worker's sandbox and data
converter, reading a recorded history, and recording today's runs of a family's scenarios."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from temporalio.client import Client, WorkflowHistory
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Replayer

from worker.main import SANDBOX

#: name → (workflow id, run id) of each scenario run.
ScenarioRuns = dict[str, tuple[str, str]]


def replayer(workflows: Sequence[type]) -> Replayer:
    """The worker's sandbox and converter, without the deadlock detector: a first payload of a model builds
    its pydantic schema inside the workflow task, which on a loaded machine can pass the detector's 2 s
    (a worker then only retries the task). What a replay test checks is the commands, not this machine's
    speed; a nondeterministic change still fails it."""
    return Replayer(workflows=workflows, workflow_runner=SANDBOX, data_converter=pydantic_data_converter,
                    debug_mode=True)


def recorded_history(path: Path) -> WorkflowHistory:
    text = path.read_text()
    started = json.loads(text)["events"][0]["workflowExecutionStartedEventAttributes"]
    return WorkflowHistory.from_json(started.get("workflowId", path.stem), text)


async def fetched_histories(client: Client, runs: ScenarioRuns) -> dict[str, WorkflowHistory]:
    return {name: await client.get_workflow_handle(workflow_id, run_id=run_id).fetch_history()
            for name, (workflow_id, run_id) in runs.items()}


async def record_scenarios(run_scenarios: Callable[[Client], Awaitable[ScenarioRuns]], histories: Path) -> None:
    """Run every scenario on a Temporal dev server of its own and write ``<histories>/<name>.json``."""
    from tests.workflows.harness import local_environment

    async with local_environment() as env:
        runs = await run_scenarios(env.client)
        histories.mkdir(parents=True, exist_ok=True)
        for name, history in (await fetched_histories(env.client, runs)).items():
            (histories / f"{name}.json").write_text(history.to_json() + "\n")
            print(f"{name}: {history.workflow_id}")
