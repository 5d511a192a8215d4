"""A deliberately nondeterministic change of ``AgentExecutionWorkflow``, registered under the real workflow's
name: it calls the agent before recording the execution ``running`` (an activity moved), as a careless edit
could. Replaying a recorded history against it must fail."""

from __future__ import annotations

from temporalio import workflow

from models.platform_v1.workflow_io import AgentExecutionInput, WorkflowName
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
