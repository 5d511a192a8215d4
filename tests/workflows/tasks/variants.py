"""Deliberately nondeterministic changes of ``CodingTaskWorkflow``: each is registered under the real
workflow's name, so replaying a recorded history against it shows what the replay test guards against."""

from __future__ import annotations

from temporalio import workflow
from temporalio.exceptions import ActivityError

from models.tasks.requests import TaskRequest
from models.tasks.status import FailureStage
from models.tasks.workflow_io import ActivityName, CodingTaskInput, WorkflowName
from workflows.common.failures import failure_reason
from workflows.tasks.coding_task import NOT_ENQUEUED, CodingTaskWorkflow


@workflow.defn(name=WorkflowName.CODING_TASK)
class MintingBeforeReacting(CodingTaskWorkflow):
    """Mints the GitHub token before it reacts to the comment: the same activities, in another order."""

    @workflow.run
    async def run(self, request: CodingTaskInput) -> str:
        return await super().run(request)

    async def _run(self, request: CodingTaskInput, context: TaskRequest) -> str:
        try:
            await self._activity(ActivityName.MINT_GITHUB_TOKEN, request.execution_id, str)
        except ActivityError as error:
            return await self._fail(FailureStage.DISPATCH, failure_reason(error), failure_reason(error))
        return await super()._run(request, context)


@workflow.defn(name=WorkflowName.CODING_TASK)
class EnqueueWithoutThePatch(CodingTaskWorkflow):
    """Waits for the ``enqueue`` Update whatever the history holds, as if ``workflow.patched`` had been left
    out: a run started before the Update existed would wait for one that never comes."""

    @workflow.run
    async def run(self, request: CodingTaskInput) -> str:
        await workflow.wait_condition(lambda: self._recorded is not None or self._enqueue_refused)
        return NOT_ENQUEUED if self._recorded is None else await self._run(request, self._recorded.request)
