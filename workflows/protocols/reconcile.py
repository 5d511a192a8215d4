"""LostSetupReconcileWorkflow: one sweep for setup runs whose workflow start was lost.

The API records a project and its setup run, then starts the setup workflow; if the API dies or
Temporal is down in between, the run stays ``pending``. A Temporal Schedule (``worker.schedules``)
runs this workflow every 30 seconds, once per cluster and visible in the Web UI; its activity starts
each lost setup under its deterministic id, so a setup is never started twice.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

from models.protocols.workflow_io import ActivityName, LostSetupSweep, WorkflowName
from workflows.common.retry import bounded_retry

SWEEP_RETRY = bounded_retry(maximum_attempts=3)


@workflow.defn(name=WorkflowName.LOST_SETUP_RECONCILE)
class LostSetupReconcileWorkflow:
    @workflow.run
    async def run(self, sweep: LostSetupSweep) -> int:
        """How many setup workflows this sweep started (a failed sweep is retried by the next one)."""
        return await workflow.execute_activity(
            ActivityName.START_LOST_SETUPS, sweep, result_type=int,
            start_to_close_timeout=timedelta(minutes=1), retry_policy=SWEEP_RETRY)
