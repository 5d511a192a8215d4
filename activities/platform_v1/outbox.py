"""The outbox's activities: the relay's batch of deliveries and the notification test's one POST.

Thin over ``integrations.stores.outbox_relay`` (claims, outcomes) and ``integrations.notifications`` (the
signed POST). The workspace's adapter setting and its signing secret are read here, per workspace, as they
stand at the try: neither ever passes through a workflow's history.
"""

from __future__ import annotations

import asyncio

from temporalio import activity

from capstan.db import SessionFactory
from capstan.secrets import SecretBox
from integrations.notifications import notification_body, notification_client, send_notification
from integrations.stores.outbox_relay import (
    ClaimedDelivery,
    NotificationTarget,
    claim_due,
    notification_target,
    record_outcome,
)
from models.common.base import iso_z, utcnow
from models.platform_v1.events import NOTIFICATION_TEST_TOPIC, DeliveryStatus, SubjectType
from models.platform_v1.outbox_io import (
    NotificationTestInput,
    NotificationTestResult,
    OutboxActivityName,
    RelayBatch,
    RelaySweep,
)
from models.platform_v1.settings import PlatformSettings


class OutboxActivities:
    def __init__(self, sessions: SessionFactory, box: SecretBox, settings: PlatformSettings) -> None:
        self.sessions = sessions
        self.box = box
        self.settings = settings

    @activity.defn(name=OutboxActivityName.DELIVER_DUE_EVENTS)
    async def deliver_due_events(self, sweep: RelaySweep) -> RelayBatch:
        """Claim up to ``batch_size`` due deliveries, POST them side by side (the batch takes one adapter
        timeout at most, well inside the activity's), record each outcome."""
        max_attempts = self.settings.outbox_max_attempts
        claimed = await claim_due(self.sessions, limit=sweep.batch_size, max_attempts=max_attempts)
        if not claimed:
            return RelayBatch(claimed=0, delivered=0, retrying=0, failed=0)
        targets: dict[str, asyncio.Task[NotificationTarget]] = {}

        async def deliver(claim: ClaimedDelivery, client) -> DeliveryStatus | None:
            if claim.workspace_id not in targets:
                targets[claim.workspace_id] = asyncio.ensure_future(
                    notification_target(self.sessions, self.box, claim.workspace_id))
            target = await targets[claim.workspace_id]
            if target.adapter is None or target.problem is not None:
                delivered, error = False, target.problem
            else:
                outcome = await send_notification(
                    client, target.adapter.url, notification_body(claim.message), topic=claim.topic,
                    delivery_id=claim.event_id, secret=target.signing_secret,
                    timeout_seconds=target.adapter.timeout_seconds, correlation_id=claim.correlation_id)
                delivered, error = outcome.delivered, outcome.error
            return await record_outcome(self.sessions, claim, delivered=delivered, error=error,
                                        max_attempts=max_attempts)

        async with notification_client() as client:
            statuses = await asyncio.gather(*(deliver(claim, client) for claim in claimed))
        return RelayBatch(claimed=len(claimed), delivered=statuses.count(DeliveryStatus.DELIVERED),
                          retrying=statuses.count(DeliveryStatus.PENDING), failed=statuses.count(DeliveryStatus.FAILED))

    @activity.defn(name=OutboxActivityName.SEND_TEST_NOTIFICATION)
    async def send_test_notification(self, test: NotificationTestInput) -> NotificationTestResult:
        """One delivery of topic ``notification.test`` to the workspace's adapter, as the relay makes them."""
        target = await notification_target(self.sessions, self.box, test.workspace_id)
        if target.adapter is None or target.problem is not None:
            return NotificationTestResult(delivered=False, error=target.problem, duration_ms=0, event_id=test.event_id)
        message = {"id": test.event_id, "workspaceId": test.workspace_id, "topic": NOTIFICATION_TEST_TOPIC,
                   "subject": {"type": str(SubjectType.WORKSPACE), "id": test.workspace_id},
                   "data": {"message": test.message}, "occurredAt": iso_z(utcnow()),
                   "correlationId": test.correlation_id}
        async with notification_client() as client:
            outcome = await send_notification(
                client, target.adapter.url, notification_body(message), topic=NOTIFICATION_TEST_TOPIC,
                delivery_id=test.event_id, secret=target.signing_secret,
                timeout_seconds=target.adapter.timeout_seconds, correlation_id=test.correlation_id)
        return NotificationTestResult(delivered=outcome.delivered, http_status=outcome.http_status,
                                      error=outcome.error, duration_ms=outcome.duration_ms, event_id=test.event_id)
