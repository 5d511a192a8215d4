"""Deliberately nondeterministic changes of the platform v1 workflows, registered under the real workflows'
names, as a careless edit could make them: ``AgentExecutionWorkflow`` calling the agent before recording the
execution ``running`` (an activity moved), ``PlatformSmokeWorkflow`` without its database check. Replaying a
recorded history against them must fail."""

from __future__ import annotations

from temporalio import workflow

from models.platform_v1.workflow_io import AgentExecutionInput, SmokeInput, SmokeResult, WorkflowName
from workflows.platform_v1.agent_execution import AgentExecutionWorkflow


@workflow.defn(name=WorkflowName.AGENT_EXECUTION)
class AgentExecutionCallingBeforeRunning(AgentExecutionWorkflow):
    @workflow.run
    async def run(self, run: AgentExecutionInput) -> str:
        began = workflow.now()
        await workflow.wait_condition(lambda: self._status is not None or self._refused)
        ending = await self._execute()
        await self._record_running()
        await self._end(ending, began)
        await workflow.wait_condition(workflow.all_handlers_finished)
        return str(ending.status)


@workflow.defn(name=WorkflowName.PLATFORM_SMOKE)
class PlatformSmokeWithoutItsDatabaseCheck:
    """Ends the record without the database check first (an activity left out)."""

    @workflow.run
    async def run(self, smoke: SmokeInput) -> SmokeResult:
        return SmokeResult(status="passed", execution_id=smoke.execution_id, duration_ms=0, checks=[])
