"""Records written and read by jobs, in the worker: an import's records (all in one transaction, or none),
an export's rows, and the payments an accounting sync applies.

These writes keep the resource engine's rules (``api.platform_v1.services.resources.ResourceStore``, which the
worker may not import): each record is a ``platform_resources`` row with version 1, one ``platform_audit``
entry naming its actor, the workspace's live count kept in the same transaction, references checked in the
workspace under ``FOR KEY SHARE`` (so a delete of a named record waits for this commit), and the record's
usual event (``ticket.created``, ``alert.triggered``, ``invoice.created``) appended to the outbox with it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, literal_column
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.stores.platform_events import append_resource_events
from models.common.base import iso_z, utcnow
from models.platform_v1.catalog import BY_NAME
from models.platform_v1.changes import changed_fields
from models.platform_v1.resource_events import TicketSource
from models.platform_v1.resource_spec import ResourceSpec
from models.platform_v1.tables import AuditRow, ResourceCountRow, ResourceRow, field_text


@dataclass(frozen=True)
class Writer:
    """Who writes, in which workspace, under which correlation id (audited and evented as such)."""

    workspace_id: str
    actor: str
    correlation_id: str | None


class BrokenReference(Exception):
    """A record names no live record of the workspace: ``records[i].field``."""

    def __init__(self, index: int, field: str, message: str) -> None:
        super().__init__(f"records[{index}].{field}: {message}")
        self.index, self.field = index, field


def record_view(row: ResourceRow) -> dict[str, Any]:
    """A record as ``GET`` answers it (the resource engine's wire shape)."""
    return {"id": row.id, "workspaceId": row.workspace_id, **row.data, "version": row.version,
            "createdAt": iso_z(row.created_at), "updatedAt": iso_z(row.updated_at),
            "createdBy": row.created_by, "updatedBy": row.updated_by}


def _scoped(writer: Writer, spec: ResourceSpec):
    return select(ResourceRow).where(ResourceRow.workspace_id == writer.workspace_id, ResourceRow.kind == spec.name)


async def check_references(session: AsyncSession, writer: Writer, spec: ResourceSpec,
                           records: list[dict[str, Any]]) -> None:
    """Every reference of every record names a live record of the workspace (locked ``FOR KEY SHARE``), or
    ``BrokenReference`` naming the first record and field that does not."""
    for field, target in spec.references.items():
        wanted = sorted({record[field] for record in records if record.get(field) is not None})
        if not wanted:
            continue
        found = set((await session.exec(select(ResourceRow.id).where(
            ResourceRow.workspace_id == writer.workspace_id, ResourceRow.kind == target,
            col(ResourceRow.id).in_(wanted), col(ResourceRow.deleted_at).is_(None))
            .with_for_update(read=True, key_share=True))).all())
        for index, record in enumerate(records):
            value = record.get(field)
            if value is not None and value not in found:
                raise BrokenReference(index, field, f"no {BY_NAME[target].singular} {value} in this workspace")


async def _count(session: AsyncSession, writer: Writer, spec: ResourceSpec, change: int) -> None:
    await session.exec(insert(ResourceCountRow).values(workspace_id=writer.workspace_id, kind=spec.name, live=change)
                       .on_conflict_do_update(index_elements=["workspace_id", "kind"],
                                              set_={"live": ResourceCountRow.live + change}))


async def create_records(session: AsyncSession, writer: Writer, spec: ResourceSpec, records: list[dict[str, Any]],
                         source: TicketSource = TicketSource.IMPORT) -> list[ResourceRow]:
    """Create every record (already validated bodies) in the caller's transaction, each audited ``create`` by
    ``writer.actor`` with its usual event; ``BrokenReference`` before anything is written."""
    await check_references(session, writer, spec, records)
    now = utcnow()
    rows = [ResourceRow(id=f"{spec.prefix}_{uuid.uuid4().hex}", workspace_id=writer.workspace_id, kind=spec.name,
                        data=record, version=1, created_by=writer.actor, updated_by=writer.actor,
                        correlation_id=writer.correlation_id, created_at=now, updated_at=now) for record in records]
    session.add_all(rows)
    await session.flush()
    for row in rows:
        session.add(AuditRow(workspace_id=writer.workspace_id, kind=row.kind, resource_id=row.id, action="create",
                             actor=writer.actor, changes=changed_fields({}, row.data), version=1,
                             correlation_id=writer.correlation_id))
        await append_resource_events(session, row, None, "create", {}, correlation_id=writer.correlation_id,
                                     source=source)
    await _count(session, writer, spec, len(rows))
    return rows


async def update_record(session: AsyncSession, writer: Writer, row: ResourceRow, data: dict[str, Any]) -> None:
    """A change of one record (already locked ``FOR UPDATE``): a new version, audited ``update``, and an
    ``invoice.updated`` event for an invoice."""
    before, changes = row.data, changed_fields(row.data, data)
    if not changes:
        return
    row.data, row.version, row.updated_by, row.updated_at = data, row.version + 1, writer.actor, utcnow()
    session.add(row)
    await session.flush()
    session.add(AuditRow(workspace_id=writer.workspace_id, kind=row.kind, resource_id=row.id, action="update",
                         actor=writer.actor, changes=changes, version=row.version,
                         correlation_id=writer.correlation_id))
    await append_resource_events(session, row, before, "update", changes, correlation_id=writer.correlation_id)


async def live_rows(session: AsyncSession, writer: Writer, spec: ResourceSpec, *, filters: dict[str, str],
                    search: str | None, limit: int) -> list[ResourceRow]:
    """The live records of ``spec`` matching the list's filters and ``q`` (its search terms), oldest first, at
    most ``limit`` (an export asks one more than it may write, to know it is too large)."""
    query = _scoped(writer, spec).where(col(ResourceRow.deleted_at).is_(None))
    for name, value in filters.items():
        query = query.where(literal_column(field_text(name)) == value)
    if search:
        query = query.where(ResourceRow.search.op("@@")(func.websearch_to_tsquery("simple", search)))
    ordered = query.order_by(col(ResourceRow.created_at).asc(), col(ResourceRow.id).asc()).limit(limit)
    return list((await session.exec(ordered)).all())
