"""A deliberately nondeterministic change of ``ProtocolRunWorkflow``, registered under the real workflow's
name, so replaying a recorded history against it shows what the replay test guards against."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from temporalio import workflow

from models.protocols.workflow_io import ProtocolRunInput, WorkflowName
from workflows.protocols.protocol_run import ProtocolRunWorkflow


@workflow.defn(name=WorkflowName.PROTOCOL_RUN)
class ProtocolRunSleepingFirst(ProtocolRunWorkflow):
    """Waits a second before anything else: a timer no recorded run ever started, and no patch guards it."""

    @workflow.run
    async def run(self, run_input: ProtocolRunInput) -> dict[str, Any]:
        await workflow.sleep(timedelta(seconds=1))
        return await super().run(run_input)
