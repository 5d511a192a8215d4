"""The wire contracts of the outbox routes: an event with its deliveries (``GET /events/outbox``, the
outbox failure retry) and the notification test's body and answer."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from models.platform_v1.contracts import Timestamp
from models.platform_v1.events import DeliveryStatus, EventStatus, Subscriber

#: ``POST /integrations/notifications/test``: at most this many characters of ``message``.
TEST_MESSAGE_MAX_LENGTH = 500


class SubjectPublic(BaseModel):
    type: str = Field(description="ticket, alert, asset, invoice, quote, execution, pipeline or workspace.")
    id: str


class DeliveryPublic(BaseModel):
    subscriber: Subscriber
    status: DeliveryStatus
    attempts: int = Field(description="Tries made (reset by a retry of a failed event).")
    lastError: str | None = Field(description="Why the last try did not deliver; null once delivered.")
    deliveredAt: Timestamp | None


class EventPublic(BaseModel):
    id: str = Field(description="`evt_` + 32 hex digits; also `x-capstan-delivery` of its notifications.")
    workspaceId: str
    topic: str
    subject: SubjectPublic
    data: dict[str, Any]
    occurredAt: Timestamp
    correlationId: str | None
    status: EventStatus = Field(description="pending until every delivery is done, delivered when each is, failed "
                                            "when one used up its tries.")
    deliveries: list[DeliveryPublic]


class NoFields(BaseModel):
    """The body of an action that takes no fields: ``{}`` or none; any field is refused."""

    model_config = ConfigDict(extra="forbid")


class NotificationTestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str | None = Field(None, max_length=TEST_MESSAGE_MAX_LENGTH,
                                description="Sent as the test notification's `data.message`.")


class NotificationTestPublic(BaseModel):
    delivered: bool = Field(description="The adapter answered 2xx.")
    httpStatus: int | None = Field(description="The adapter's status; null when it did not answer.")
    error: str | None = Field(description="Why it was not delivered; null when it was.")
    durationMs: int
    eventId: str = Field(description="The test event's id (`x-capstan-delivery`); not stored.")
