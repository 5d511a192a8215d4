"""What the outbox's workflows (the relay, the notification test) and their activities pass each other.

Histories carry ids, counts and the test's message, never an event's data, a URL's answer body or a secret:
the activities read the workspace's adapter setting and its signing secret themselves.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, Field


class OutboxWorkflowName(StrEnum):
    OUTBOX_RELAY = "OutboxRelayWorkflow"
    NOTIFICATION_TEST = "NotificationTestWorkflow"


class OutboxActivityName(StrEnum):
    #: Claim due deliveries (``FOR UPDATE SKIP LOCKED``), make them, record each outcome.
    DELIVER_DUE_EVENTS = "deliver_due_events"
    #: One notification of topic ``notification.test``, neither stored nor retried.
    SEND_TEST_NOTIFICATION = "send_test_notification"


class RelaySweep(BaseModel):
    """The relay's input (the Schedule's action): how many deliveries one activity claims and makes at once
    (side by side, so a batch takes one adapter timeout, at most 30 s, whatever its size)."""

    batch_size: int = Field(default=16, ge=1, le=64)


class RelayBatch(BaseModel):
    """What one batch came to. ``claimed`` equal to the batch size: more may be due now."""

    claimed: int
    delivered: int
    retrying: int
    failed: int


class RelayResult(BaseModel):
    batches: int
    delivered: int
    retrying: int
    failed: int


class NotificationTestInput(BaseModel):
    workspace_id: str
    event_id: str
    message: str | None = None
    correlation_id: str | None = None


class NotificationTestResult(BaseModel):
    """The answer of ``POST /integrations/notifications/test`` (its ``durationMs`` is the POST's)."""

    delivered: bool
    http_status: int | None = None
    error: str | None = None
    duration_ms: int
    event_id: str
