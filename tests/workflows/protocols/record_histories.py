"""Record the histories ``test_replay`` replays: ``python -m tests.workflows.protocols.record_histories``.

Drives each scenario of ``scenarios.py`` on a Temporal dev server of its own with the stub
activities, then replaces ``histories/*.json`` with the new runs' histories (the subfolders hold
frozen histories of older command shapes that a patch still serves; they are never replaced). Re-record only
for a deliberate change of the workflow's commands, and only once no running workflow can
meet the old code path (else guard the change with ``workflow.patched``: see
docs/architecture.md, "Determinism and replay tests").
"""

from __future__ import annotations

import asyncio
import logging

from tests.workflows.harness import harness_for, local_environment
from tests.workflows.protocols.scenarios import HISTORIES, SCENARIOS, RecordedRun
from tests.workflows.protocols.stubs import StubActivities


async def record() -> list[RecordedRun]:
    histories: dict[RecordedRun, str] = {}
    async with local_environment() as env:
        for scenario in SCENARIOS:
            async with harness_for(env.client, StubActivities()) as harness:
                runs = await scenario(harness)
            for run in runs:
                handle = env.client.get_workflow_handle(run.workflow_id, run_id=run.run_id)
                histories[run] = (await handle.fetch_history()).to_json()
    HISTORIES.mkdir(exist_ok=True)
    for stale in HISTORIES.glob("*.json"):
        stale.unlink()
    for run, history in histories.items():
        run.path.write_text(history + "\n")
    return list(histories)


def main() -> None:
    # The cancelled scenario's execution ends cancelled by design: no warning with a traceback for it.
    logging.getLogger("temporalio.activity").setLevel(logging.ERROR)
    for run in asyncio.run(record()):
        print(f"{run.path.relative_to(HISTORIES.parents[3])}  {run.workflow_id}  run {run.run_id}")


if __name__ == "__main__":
    main()
