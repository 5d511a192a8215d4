"""Every resource the engine serves under ``/api/v1/{resource}``: one ``ResourceSpec`` each."""

from __future__ import annotations

from models.platform_v1 import schemas as s
from models.platform_v1.resource_spec import ResourceSpec, SortKey, SortType

_NAME = {"name": SortKey("name", indexed=True)}
_TITLE = {"title": SortKey("title")}
_STATUS = {"status": SortKey("status")}


def _ranked(field: str, rank: tuple[str, ...], indexed: bool = False) -> dict[str, SortKey]:
    return {field: SortKey(field, SortType.RANK, rank=rank, indexed=indexed)}


RESOURCES: tuple[ResourceSpec, ...] = (
    ResourceSpec("clients", "cli", s.Client, sorts={**_NAME, **_STATUS}, filters=("status",)),
    ResourceSpec("contacts", "con", s.Contact, references={"clientId": "clients"},
                 sorts={"lastName": SortKey("lastName"), "firstName": SortKey("firstName")},
                 filters=("clientId",)),
    ResourceSpec("sites", "sit", s.Site, references={"clientId": "clients"}, sorts=dict(_NAME),
                 filters=("clientId", "country")),
    ResourceSpec("assets", "ast", s.Asset, references={"clientId": "clients", "siteId": "sites"},
                 sorts={**_NAME, "type": SortKey("type"), **_STATUS},
                 filters=("clientId", "siteId", "type", "status")),
    ResourceSpec("tickets", "tkt", s.Ticket,
                 references={"clientId": "clients", "assetId": "assets", "contactId": "contacts"},
                 sorts={"title": SortKey("title", indexed=True), "status": SortKey("status", indexed=True),
                        **_ranked("priority", s.PRIORITY_RANK, indexed=True), "dueAt": SortKey("dueAt")},
                 filters=("clientId", "status", "priority", "assetId", "assignee")),
    ResourceSpec("alerts", "alr", s.Alert,
                 references={"clientId": "clients", "assetId": "assets", "ticketId": "tickets"},
                 sorts={**_TITLE, **_ranked("severity", s.SEVERITY_RANK), **_STATUS},
                 filters=("clientId", "assetId", "severity", "status")),
    ResourceSpec("incidents", "inc", s.Incident, references={"clientId": "clients"},
                 sorts={**_TITLE, "severity": SortKey("severity"), **_STATUS, "startedAt": SortKey("startedAt")},
                 filters=("clientId", "severity", "status")),
    ResourceSpec("changes", "chg", s.Change, references={"clientId": "clients"},
                 sorts={**_TITLE, **_STATUS, "scheduledFor": SortKey("scheduledFor")},
                 filters=("clientId", "type", "status", "risk")),
    ResourceSpec("contracts", "ctr", s.Contract, references={"clientId": "clients"},
                 sorts={**_NAME, **_STATUS, "startDate": SortKey("startDate"),
                        "monthlyValue": SortKey("monthlyValue", SortType.NUMBER)},
                 filters=("clientId", "type", "status"), financial=True),
    ResourceSpec("quotes", "quo", s.Quote, references={"clientId": "clients"},
                 sorts={**_TITLE, **_STATUS, "validUntil": SortKey("validUntil")},
                 filters=("clientId", "status"), financial=True),
    ResourceSpec("invoices", "inv", s.Invoice, references={"clientId": "clients", "contractId": "contracts"},
                 sorts={"number": SortKey("number"), **_STATUS, "dueDate": SortKey("dueDate", indexed=True),
                        "amount": SortKey("amount", SortType.NUMBER)},
                 filters=("clientId", "contractId", "status"), financial=True),
    ResourceSpec("payments", "pay", s.Payment, references={"invoiceId": "invoices"},
                 agrees_with={"currency": "invoiceId"},
                 sorts={"receivedAt": SortKey("receivedAt"), "amount": SortKey("amount", SortType.NUMBER)},
                 filters=("invoiceId", "method"), financial=True),
    ResourceSpec("runbooks", "rbk", s.Runbook, sorts={**_TITLE, "category": SortKey("category")},
                 filters=("category",)),
    ResourceSpec("knowledge-base", "kba", s.Article, sorts={**_TITLE, "category": SortKey("category")},
                 filters=("category", "visibility"), noun="article"),
)

BY_NAME: dict[str, ResourceSpec] = {spec.name: spec for spec in RESOURCES}
#: The (resource, field) pairs that may name a record of each resource: ``clients`` → tickets' ``clientId``, ….
REFERENCED_BY: dict[str, tuple[tuple[ResourceSpec, str], ...]] = {
    target.name: tuple((spec, field) for spec in RESOURCES for field, name in spec.references.items()
                       if name == target.name)
    for target in RESOURCES}
BY_PREFIX: dict[str, ResourceSpec] = {spec.prefix: spec for spec in RESOURCES}
