"""The platform API v1's events: topics, subjects, and the status of an event and of each of its deliveries.

Every domain change that emits an event writes it in the same Postgres transaction as the change (the
transactional outbox, ``integrations.stores.platform_events.append_event``); the relay delivers each
event at least once to each of its subscribers, with bounded attempts. The statuses and their rules are
defined here, once.
"""

from __future__ import annotations

from enum import StrEnum


class EventTopic(StrEnum):
    TICKET_CREATED = "ticket.created"
    TICKET_UPDATED = "ticket.updated"
    TICKET_SLA_BREACHED = "ticket.sla_breached"
    ALERT_TRIGGERED = "alert.triggered"
    ASSET_STATE_CHANGED = "asset.state_changed"
    INVOICE_CREATED = "invoice.created"
    INVOICE_UPDATED = "invoice.updated"
    INVOICE_OVERDUE = "invoice.overdue"
    INVOICE_ACKNOWLEDGED = "invoice.acknowledged"
    INVOICE_PAYMENT_INTENT_CREATED = "invoice.payment_intent_created"
    QUOTE_DECIDED = "quote.decided"
    PIPELINE_FAILED = "pipeline.failed"
    WORKFLOW_COMPLETED = "workflow.completed"


#: The seven topics the API's source document names; a workspace's notification adapter receives these
#: unless its ``integrations.notifications.topics`` setting chooses others.
SEED_TOPICS: frozenset[EventTopic] = frozenset({
    EventTopic.TICKET_CREATED, EventTopic.TICKET_SLA_BREACHED, EventTopic.ALERT_TRIGGERED,
    EventTopic.ASSET_STATE_CHANGED, EventTopic.INVOICE_OVERDUE, EventTopic.PIPELINE_FAILED,
    EventTopic.WORKFLOW_COMPLETED,
})

#: The topic of ``POST /integrations/notifications/test``'s one delivery (never stored, never retried).
NOTIFICATION_TEST_TOPIC = "notification.test"


class SubjectType(StrEnum):
    """What an event is about (its ``subject.type``)."""

    TICKET = "ticket"
    ALERT = "alert"
    ASSET = "asset"
    INVOICE = "invoice"
    QUOTE = "quote"
    EXECUTION = "execution"
    PIPELINE = "pipeline"
    WORKSPACE = "workspace"


class Subscriber(StrEnum):
    """Who an event is delivered to: Temporal (the SLA and overdue timers) or the workspace's notification
    adapter."""

    TEMPORAL = "temporal"
    NOTIFICATIONS = "notifications"


#: The topics that arm, re-arm or cancel the ticket SLA and invoice overdue timers. No ``temporal`` delivery is
#: written yet (``append_event``): the timer workflows that would receive them come next, with their relay.
TEMPORAL_TOPICS: frozenset[EventTopic] = frozenset({
    EventTopic.TICKET_CREATED, EventTopic.TICKET_UPDATED, EventTopic.TICKET_SLA_BREACHED,
    EventTopic.INVOICE_CREATED, EventTopic.INVOICE_UPDATED,
})


class DeliveryStatus(StrEnum):
    """One subscriber's delivery of one event: ``pending`` until delivered or out of attempts."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class EventStatus(StrEnum):
    """An event's status, derived from its deliveries (``event_status``)."""

    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


def event_status(deliveries: list[DeliveryStatus]) -> EventStatus:
    """``failed`` once a delivery used up its attempts, ``pending`` while one is still to be made,
    ``delivered`` when every one is done (an event with no subscriber is delivered at once)."""
    if DeliveryStatus.FAILED in deliveries:
        return EventStatus.FAILED
    if DeliveryStatus.PENDING in deliveries:
        return EventStatus.PENDING
    return EventStatus.DELIVERED
