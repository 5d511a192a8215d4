"""The platform API v1's records in Postgres.

Every tenant row carries its ``workspace_id``; the one place that reads and writes them
(``api.platform_v1.services.resources.ResourceStore``) filters by it in every query.

- ``platform_workspaces``: the tenants.
- ``platform_resources``: every resource of the engine (clients, tickets, invoices, …), one row each:
  its kind, its body (``data``, the wire shape), a version (the ETag), soft deletion, who and which
  request made it. ``search`` is the body's words (a generated ``tsvector``) for ``q``; each sort key a
  spec marks ``indexed`` gets a partial index, so a list of 100,000 tickets is one index walk; each
  reference field too, for a list filtered by it (``?clientId=``) and the check that refuses to delete
  a record live records still reference.
- ``platform_resource_counts``: the live records of each kind per workspace (an unfiltered list's total).
- ``platform_audit``: every change of a resource: who, when, what changed, the correlation id.
- ``platform_idempotency_keys``: the ``Idempotency-Key`` of each mutation and the response it got;
  a unique constraint decides concurrent duplicates.
- ``platform_settings``, ``platform_secrets``, ``platform_secret_events``: platform-wide (scope
  ``platform``) and per-workspace (scope ``workspace:<id>``) settings, sealed secrets, and who set them.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, Column, Computed, DateTime, ForeignKey, Identity, Index, Integer, Text, text
from sqlalchemy.dialects.postgresql import JSONB, TSVECTOR
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field, updated_at_field
from models.platform_v1.catalog import RESOURCES
from models.platform_v1.resource_spec import ResourceSpec, SortKey, SortType

SEARCH_EXPRESSION = "jsonb_to_tsvector('simple', data, '[\"string\", \"numeric\"]')"


def field_text(field: str) -> str:
    """The SQL of a body field's value as text, as lists filter on it and its indexes are built on it."""
    return f"(data ->> '{field}')"


def sort_expression(key: SortKey) -> str:
    """The SQL a list orders by for ``key`` (the same text the index is built on)."""
    value = field_text(key.field)
    if key.type == SortType.NUMBER:
        return f"(({value})::numeric)"
    if key.type == SortType.RANK:
        return f"array_position('{{{','.join(key.rank)}}}'::text[], data ->> '{key.field}')"
    return value


def _text(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(Text, nullable=nullable))


def _ts(nullable: bool = True) -> Any:
    return Field(default=None, sa_column=Column(DateTime(timezone=True), nullable=nullable))


def _live_of(spec: ResourceSpec) -> Any:
    """The predicate of a partial index over the live records of one kind."""
    return text(f"kind = '{spec.name}' AND deleted_at IS NULL")


def _sort_indexes() -> list[Index]:
    return [Index(f"ix_platform_resources_{spec.prefix}_{name.lower()}", "workspace_id", text(sort_expression(key)),
                  "id", postgresql_where=_live_of(spec))
            for spec in RESOURCES for name, key in spec.sorts.items() if key.indexed]


def _reference_indexes() -> list[Index]:
    return [Index(f"ix_platform_resources_{spec.prefix}_ref_{field.lower()}", "workspace_id",
                  text(field_text(field)), postgresql_where=_live_of(spec))
            for spec in RESOURCES for field in spec.references]


class WorkspaceRow(SQLModel, table=True):
    __tablename__ = "platform_workspaces"

    id: str = Field(sa_column=Column(Text, primary_key=True))
    name: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str | None = _text()
    correlation_id: str | None = _text()
    created_at: datetime = created_at_field()


class ResourceRow(SQLModel, table=True):
    __tablename__ = "platform_resources"
    __table_args__ = (
        Index("ix_platform_resources_list", "workspace_id", "kind", "created_at", "id",
              postgresql_where=text("deleted_at IS NULL")),
        Index("ix_platform_resources_search", "search", postgresql_using="gin"),
        *_sort_indexes(),
        *_reference_indexes(),
    )

    id: str = Field(sa_column=Column(Text, primary_key=True))
    workspace_id: str = Field(sa_column=Column(Text, ForeignKey("platform_workspaces.id"), nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    data: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    #: The body's words and numbers, for ``q``.
    search: Any = Field(default=None, sa_column=Column(TSVECTOR, Computed(SEARCH_EXPRESSION, persisted=True)))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    created_by: str | None = _text()
    updated_by: str | None = _text()
    correlation_id: str | None = _text()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()
    deleted_at: datetime | None = _ts()


class ResourceCountRow(SQLModel, table=True):
    """How many live (not deleted) records of each kind a workspace holds: the ``total`` of an unfiltered list,
    kept by the writes that add or delete a record, in their transaction (a count of 100,000 rows costs
    more than the whole page)."""

    __tablename__ = "platform_resource_counts"

    workspace_id: str = Field(sa_column=Column(Text, primary_key=True))
    kind: str = Field(sa_column=Column(Text, primary_key=True))
    live: int = Field(default=0, sa_column=Column(BigInteger, nullable=False))


#: Sets every count from the rows (the migration that adds the table, and loads that write rows directly).
RECOUNT_SQL = """
INSERT INTO platform_resource_counts (workspace_id, kind, live)
SELECT workspace_id, kind, count(*) FROM platform_resources WHERE deleted_at IS NULL GROUP BY workspace_id, kind
ON CONFLICT (workspace_id, kind) DO UPDATE SET live = EXCLUDED.live
"""


class AuditRow(SQLModel, table=True):
    __tablename__ = "platform_audit"
    __table_args__ = (Index("ix_platform_audit_resource", "workspace_id", "resource_id", "seq"),)

    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    workspace_id: str = Field(sa_column=Column(Text, nullable=False))
    kind: str = Field(sa_column=Column(Text, nullable=False))
    resource_id: str = Field(sa_column=Column(Text, nullable=False))
    #: ``create``, ``update`` (PUT), ``patch`` or ``delete``.
    action: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    #: ``{field: {"from": old, "to": new}}`` of the body's top-level fields that changed.
    changes: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    version: int = Field(sa_column=Column(Integer, nullable=False))
    correlation_id: str | None = _text()
    at: datetime = created_at_field()


class IdempotencyRow(SQLModel, table=True):
    __tablename__ = "platform_idempotency_keys"
    __table_args__ = (
        Index("uq_platform_idempotency_keys", "scope", "principal", "route", "key", unique=True),
        Index("ix_platform_idempotency_keys_expires_at", "expires_at"),
    )

    id: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    #: The workspace id, or ``platform`` for routes outside any workspace.
    scope: str = Field(sa_column=Column(Text, nullable=False))
    principal: str = Field(sa_column=Column(Text, nullable=False))
    #: ``POST /api/v1/tickets``: the method and the route template.
    route: str = Field(sa_column=Column(Text, nullable=False))
    key: str = Field(sa_column=Column(Text, nullable=False))
    #: sha256 of the request's method, path and body.
    fingerprint: str = Field(sa_column=Column(Text, nullable=False))
    #: None while the first request is in flight.
    status_code: int | None = Field(default=None, sa_column=Column(Integer))
    response_body: str | None = _text()
    response_headers: dict[str, str] | None = Field(default=None, sa_column=Column(JSONB))
    created_at: datetime = created_at_field()
    completed_at: datetime | None = _ts()
    expires_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))


class SettingsRow(SQLModel, table=True):
    __tablename__ = "platform_settings"

    scope: str = Field(sa_column=Column(Text, primary_key=True))
    settings: dict[str, Any] = Field(sa_column=Column(JSONB, nullable=False))
    version: int = Field(default=1, sa_column=Column(Integer, nullable=False))
    updated_by: str | None = _text()
    updated_at: datetime = updated_at_field()


class SecretRow(SQLModel, table=True):
    __tablename__ = "platform_secrets"

    scope: str = Field(sa_column=Column(Text, primary_key=True))
    key: str = Field(sa_column=Column(Text, primary_key=True))
    sealed_value: str = Field(sa_column=Column(Text, nullable=False))
    created_by: str | None = _text()
    updated_by: str | None = _text()
    created_at: datetime = created_at_field()
    updated_at: datetime = updated_at_field()


class SecretEventRow(SQLModel, table=True):
    """Who set or rotated which secret, and when (never its value)."""

    __tablename__ = "platform_secret_events"
    __table_args__ = (Index("ix_platform_secret_events_scope", "scope", "seq"),)

    seq: int | None = Field(default=None, sa_column=Column(BigInteger, Identity(), primary_key=True))
    scope: str = Field(sa_column=Column(Text, nullable=False))
    key: str = Field(sa_column=Column(Text, nullable=False))
    #: ``set`` (first value) or ``rotated`` (a new value for a key that had one).
    action: str = Field(sa_column=Column(Text, nullable=False))
    actor: str = Field(sa_column=Column(Text, nullable=False))
    correlation_id: str | None = _text()
    at: datetime = created_at_field()
