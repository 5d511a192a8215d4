"""A valid body for every resource of the engine, and the records it references created first.

``Records(v1)`` creates what a body references (one client, site, asset, … per workspace, shared by
the records of a test) and then the record itself. ``TEMPLATES`` holds one valid body per resource
(references left out: ``Records`` fills every reference field of the spec); ``EDITS`` a field a change
sets and its new value; ``OPTIONAL`` a field of the template a merge patch may remove with ``null``.
The other facts a test needs (required fields, enums, string bounds) come from the resource's JSON
schema, which is what a client sees.
"""

from __future__ import annotations

import uuid
from typing import Any

from models.platform_v1.catalog import BY_NAME, RESOURCES
from models.platform_v1.resource_spec import ResourceSpec
from tests.e2e.platform_v1.support import V1

TEMPLATES: dict[str, dict[str, Any]] = {
    "clients": {"name": "Globex", "status": "active", "industry": "Manufacturing", "tags": ["vip"]},
    "contacts": {"firstName": "Ada", "lastName": "Lovelace", "email": "ada@globex.example", "title": "CTO"},
    "sites": {"name": "Headquarters", "city": "Berlin", "country": "DE"},
    "assets": {"name": "srv-01", "type": "server", "serialNumber": "SN-0001"},
    "tickets": {"title": "Printer on fire", "priority": "high", "description": "Third floor, next to the kitchen"},
    "alerts": {"title": "Disk almost full", "severity": "warning", "source": "nagios"},
    "incidents": {"title": "Mail outage", "severity": "sev2", "summary": "Nobody receives mail"},
    "changes": {"title": "Upgrade the firewall", "risk": "high", "description": "Firmware 7.4"},
    "contracts": {"name": "Managed services 2026", "type": "managed_services", "startDate": "2026-01-01",
                  "endDate": "2026-12-31", "monthlyValue": 1500},
    "quotes": {"title": "New laptops", "lines": [{"description": "Laptop", "quantity": 3, "unitPrice": 1200}],
               "validUntil": "2026-06-30"},
    "invoices": {"number": "INV-1001", "issueDate": "2026-05-01", "dueDate": "2026-05-31", "amount": 1500},
    "payments": {"amount": 1500, "method": "bank_transfer", "receivedAt": "2026-05-20T10:00:00.000000Z",
                 "reference": "wire 7781"},
    "runbooks": {"title": "Restart the print spooler", "steps": ["Open services", "Restart the spooler"],
                 "category": "printing"},
    "knowledge-base": {"title": "Reset a password", "body": "Open the portal and choose Reset.",
                       "category": "accounts"},
}

#: A field a PUT or PATCH changes, and its new value.
EDITS: dict[str, tuple[str, Any]] = {
    "clients": ("name", "Globex Corporation"),
    "contacts": ("lastName", "Byron"),
    "sites": ("name", "Branch office"),
    "assets": ("name", "srv-02"),
    "tickets": ("title", "Printer still on fire"),
    "alerts": ("title", "Disk full"),
    "incidents": ("title", "Mail outage, part two"),
    "changes": ("title", "Upgrade the firewall again"),
    "contracts": ("name", "Managed services 2027"),
    "quotes": ("title", "Newer laptops"),
    "invoices": ("number", "INV-1002"),
    "payments": ("amount", 1499.5),
    "runbooks": ("title", "Restart the print spooler twice"),
    "knowledge-base": ("title", "Reset a forgotten password"),
}

#: An optional field every body has, that ``null`` in a merge patch removes (no default takes its place).
OPTIONAL: dict[str, str] = {
    "clients": "industry", "contacts": "email", "sites": "city", "assets": "serialNumber",
    "tickets": "description", "alerts": "source", "incidents": "summary", "changes": "description",
    "contracts": "endDate", "quotes": "validUntil", "invoices": "contractId", "payments": "reference",
    "runbooks": "category", "knowledge-base": "category",
}

assert set(TEMPLATES) == set(EDITS) == set(OPTIONAL) == {spec.name for spec in RESOURCES}, \
    "every resource of the catalog needs a template, an edit and an optional field here"


def spec_id(spec: ResourceSpec) -> str:
    return spec.name


def properties(spec: ResourceSpec) -> dict[str, dict[str, Any]]:
    """Each field's JSON schema, with ``anyOf [x, null]`` and ``$ref`` resolved to ``x``."""
    document = spec.schema.model_json_schema()
    definitions = document.get("$defs", {})

    def resolve(schema: dict[str, Any]) -> dict[str, Any]:
        if "anyOf" in schema:
            schema = next(branch for branch in schema["anyOf"] if branch.get("type") != "null")
        if "$ref" in schema:
            schema = definitions[schema["$ref"].rsplit("/", 1)[-1]]
        return schema

    return {name: resolve(schema) for name, schema in document["properties"].items()}


def required_fields(spec: ResourceSpec) -> list[str]:
    return list(spec.schema.model_json_schema().get("required", []))


def enum_fields(spec: ResourceSpec) -> dict[str, list[str]]:
    return {name: schema["enum"] for name, schema in properties(spec).items() if "enum" in schema}


def bounded_string(spec: ResourceSpec) -> tuple[str, int]:
    """A free-text field of the template (no pattern, not a reference) and its maximum length."""
    fields = properties(spec)
    for name in TEMPLATES[spec.name]:
        schema = fields[name]
        if schema.get("type") == "string" and "maxLength" in schema and "pattern" not in schema \
                and "format" not in schema:
            return name, schema["maxLength"]
    raise AssertionError(f"{spec.name} has no bounded free-text field in its template")


def missing_id(spec: ResourceSpec) -> str:
    """A well-formed id of ``spec`` that names no record."""
    return f"{spec.prefix}_{uuid.uuid4().hex}"


class Records:
    """Creates records in ``v1``'s workspace; what they reference is created once and shared."""

    def __init__(self, v1: V1) -> None:
        self.v1 = v1
        self.shared: dict[str, str] = {}

    async def ref(self, name: str) -> str:
        """The id of this workspace's shared record of ``name`` (created on first use)."""
        if name not in self.shared:
            self.shared[name] = (await self.create(name))["id"]
        return self.shared[name]

    async def body(self, resource: str, **overrides: Any) -> dict[str, Any]:
        """A valid body of ``resource``: the template, its references filled, then ``overrides`` (``None``
        leaves a field out)."""
        body = dict(TEMPLATES[resource])
        for field, target in BY_NAME[resource].references.items():
            if field not in overrides:
                body[field] = await self.ref(target)
        return {key: value for key, value in {**body, **overrides}.items() if value is not None}

    async def create(self, resource: str, **overrides: Any) -> dict[str, Any]:
        body = await self.body(resource, **overrides)
        created = await self.v1.post(f"/{resource}", json=body)
        assert created.status_code == 201, created.text
        return created.json()
