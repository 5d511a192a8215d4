"""A status set by hand (``PUT /api/tasks/{id}/status``) on a task no run is working on.

One short workflow per change, started with its one Update, ``set_status`` (update-with-start): the
issue is relabelled and commented with the requesting user's token, then the status is recorded on the
task (a local write). Both refuse while a run of the task is queued or running (``already_running``); a
GitHub refusal comes back as ``github_refused``. The Update answers once the status is recorded; the
workflow then ends.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.exceptions import ActivityError, ApplicationError

with workflow.unsafe.imports_passed_through():
    from models.common.records import RECORD_REJECTED_ERROR
    from models.tasks.requests import ManualStatusChange
    from models.tasks.workflow_io import ActivityName, Refusal, UpdateName, WorkflowName
    from workflows.common.failures import update_refusal
    from workflows.common.records import execute_local_write
    from workflows.common.retry import bounded_retry

GITHUB_TIMEOUT = timedelta(seconds=60)
#: The user waits: one more try on a GitHub failure, no more.
GITHUB_RETRY = bounded_retry(2)
#: The Update arrives with the start; a change whose Update was lost ends after this.
UPDATE_WAIT = timedelta(minutes=10)
PASSED_ON = frozenset({Refusal.ALREADY_RUNNING, Refusal.GITHUB_REFUSED, Refusal.TASK_NOT_FOUND,
                       RECORD_REJECTED_ERROR})


def _passed_on(error: ActivityError) -> ApplicationError:
    return update_refusal(error, PASSED_ON, "the status could not be set", "status_change_failed")


@workflow.defn(name=WorkflowName.TASK_STATUS_CHANGE)
class TaskStatusChangeWorkflow:
    def __init__(self) -> None:
        self._begun = False
        self._done = False

    @workflow.update(name=UpdateName.SET_STATUS)
    async def set_status(self, change: ManualStatusChange) -> None:
        self._begun = True
        try:
            await workflow.execute_activity(ActivityName.ANNOUNCE_MANUAL_STATUS, change,
                                            start_to_close_timeout=GITHUB_TIMEOUT, retry_policy=GITHUB_RETRY)
            await execute_local_write(ActivityName.RECORD_MANUAL_STATUS, change, bool)
        except ActivityError as error:
            raise _passed_on(error) from None
        finally:
            self._done = True

    @set_status.validator
    def _check_set_status(self, change: ManualStatusChange) -> None:
        if self._begun:
            raise ApplicationError("this change was applied already", type=Refusal.ALREADY_ENQUEUED)

    @workflow.run
    async def run(self, task_id: str) -> str:
        try:
            await workflow.wait_condition(lambda: self._done, timeout=UPDATE_WAIT)
        except TimeoutError:
            pass
        await workflow.wait_condition(workflow.all_handlers_finished)
        return task_id
