"""Which events a change of a resource record emits, and their data (the outbox's table of topics).

Pure: given the record's kind, its body before and after, and the change's action, the events to append
in the change's own transaction (``ResourceStore`` appends them). Every route, ingest and import that
creates or changes a record goes through the store, so every one emits the same events.

| record | change | topic | data |
|---|---|---|---|
| ticket | created | ``ticket.created`` | ticketId, clientId, title, priority, status, source |
| ticket | any change (a delete too) | ``ticket.updated`` | ticketId, clientId, status, priority, action, changes |
| alert | created | ``alert.triggered`` | alertId, title, severity, clientId, assetId |
| asset | ``status`` changed | ``asset.state_changed`` | assetId, clientId, from, to |
| invoice | created | ``invoice.created`` | invoiceId, clientId, number, status, dueDate |
| invoice | any change | ``invoice.updated`` | the same, and changes |

Event data never carries amounts or secrets: an invoice's money fields are left out of its ``changes``.
A delete shows in ``changes`` as ``deletedAt`` from ``null`` to its time (what a timer needs to stop).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from models.platform_v1.events import EventTopic, SubjectType


class TicketSource(StrEnum):
    """How a ticket came to be (``ticket.created``'s ``source``)."""

    API = "api"
    PORTAL = "portal"
    IMPORT = "import"
    ALERT = "alert"


#: Fields of a record that hold money: never in an event's data.
MONEY_FIELDS = frozenset({"amount", "balance", "total", "subtotal", "tax", "amountPaid", "amountDue", "lines",
                          "unitPrice", "monthlyValue"})
CREATE, DELETE = "create", "delete"


@dataclass(frozen=True)
class ResourceEvent:
    topic: EventTopic
    subject_type: SubjectType
    subject_id: str
    data: dict[str, Any]


def _without_money(changes: dict[str, Any]) -> dict[str, Any]:
    return {field: change for field, change in changes.items() if field not in MONEY_FIELDS}


def _ticket(record_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"ticketId": record_id, "clientId": body.get("clientId"), "status": body.get("status"),
            "priority": body.get("priority")}


def _invoice(record_id: str, body: dict[str, Any]) -> dict[str, Any]:
    return {"invoiceId": record_id, "clientId": body.get("clientId"), "number": body.get("number"),
            "status": body.get("status"), "dueDate": body.get("dueDate")}


def resource_events(kind: str, record_id: str, before: dict[str, Any] | None, after: dict[str, Any], action: str,
                    changes: dict[str, Any], source: TicketSource = TicketSource.API) -> list[ResourceEvent]:
    """The events of one change of record ``record_id`` of ``kind`` (``before`` is ``None`` on a create)."""
    if kind == "tickets":
        if before is None:
            data = {**_ticket(record_id, after), "title": after.get("title"), "source": str(source)}
            return [ResourceEvent(EventTopic.TICKET_CREATED, SubjectType.TICKET, record_id, data)]
        data = {**_ticket(record_id, after), "action": action, "changes": changes}
        return [ResourceEvent(EventTopic.TICKET_UPDATED, SubjectType.TICKET, record_id, data)]
    if kind == "alerts" and before is None:
        data = {"alertId": record_id, "title": after.get("title"), "severity": after.get("severity"),
                "clientId": after.get("clientId"), "assetId": after.get("assetId")}
        return [ResourceEvent(EventTopic.ALERT_TRIGGERED, SubjectType.ALERT, record_id, data)]
    if kind == "assets" and before is not None and action != DELETE and "status" in changes:
        data = {"assetId": record_id, "clientId": after.get("clientId"), "from": changes["status"]["from"],
                "to": changes["status"]["to"]}
        return [ResourceEvent(EventTopic.ASSET_STATE_CHANGED, SubjectType.ASSET, record_id, data)]
    if kind == "invoices":
        if before is None:
            data = _invoice(record_id, after)
            return [ResourceEvent(EventTopic.INVOICE_CREATED, SubjectType.INVOICE, record_id, data)]
        data = {**_invoice(record_id, after), "changes": _without_money(changes)}
        return [ResourceEvent(EventTopic.INVOICE_UPDATED, SubjectType.INVOICE, record_id, data)]
    return []
