"""A run jammed by the 225b179 build replays on today's code, so upgrading the worker frees it.

``protocol-run-jammed-by-225b179.json`` is the history of a real run on that build: an
``add_steps`` Update with ``step_index`` 2**31 whose step write Postgres refused and the worker
retried forever, and a ``pause`` Update accepted behind it. Today's worker must replay it
without a non-deterministic command (tests/e2e/protocols/test_rejected_records.py shows it then frees
the run); a change that breaks the replay strands every run jammed that way.
"""

from __future__ import annotations

from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import WorkflowHistory
from temporalio.worker import Replayer

from worker.main import SANDBOX
from workflows.protocols import PROTOCOL_WORKFLOWS

JAMMED = Path(__file__).resolve().parents[2] / "fixtures" / "histories" / "protocol-run-jammed-by-225b179.json"


async def test_a_run_jammed_by_the_old_build_replays_on_todays_code():
    history = WorkflowHistory.from_json("protocol-run-1", JAMMED.read_text())
    types = [event.event_type for event in history.events]
    assert types.count(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED) == 2  # add_steps, then pause
    assert EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED not in types  # the step write never finished

    result = await Replayer(workflows=PROTOCOL_WORKFLOWS, workflow_runner=SANDBOX, debug_mode=True).replay_workflow(
        history)

    assert result.replay_failure is None
