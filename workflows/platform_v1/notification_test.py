"""``NotificationTestWorkflow`` (``POST /integrations/notifications/test``): one delivery of topic
``notification.test`` to the workspace's adapter, answered to the API. It is neither stored nor retried:
the answer is what the adapter did with that one try."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from models.platform_v1.outbox_io import (
        NotificationTestInput,
        NotificationTestResult,
        OutboxActivityName,
        OutboxWorkflowName,
    )

#: The adapter's ``timeoutSeconds`` is at most 30 s; the settings and the secret are read first.
DELIVERY_TIMEOUT = timedelta(seconds=45)
ONE_TRY = RetryPolicy(maximum_attempts=1)


@workflow.defn(name=OutboxWorkflowName.NOTIFICATION_TEST)
class NotificationTestWorkflow:
    @workflow.run
    async def run(self, test: NotificationTestInput) -> NotificationTestResult:
        return await workflow.execute_activity(
            OutboxActivityName.SEND_TEST_NOTIFICATION, test, start_to_close_timeout=DELIVERY_TIMEOUT,
            retry_policy=ONE_TRY, result_type=NotificationTestResult)
