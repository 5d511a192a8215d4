"""The resource engine's reads and writes, always inside one workspace.

``ResourceStore`` is the one place that touches ``platform_resources`` and ``platform_audit``: every
query it makes starts from ``_scoped`` (the caller's workspace and the resource's kind), so no route
can read or change another workspace's rows. A resource of another workspace is as unknown as one
that never existed (404); a deleted one of this workspace is 410.

Writes: the body is validated against the resource's schema (400 naming each field), references are
checked in the same workspace (400 ``invalid_reference``), ``If-Match`` against the version (412). A write
flushes the change and its audit record and returns the row; it does not commit: its caller does (a route
commits with its answer stored under its ``Idempotency-Key``, so change, audit and answer are one transaction).

Events: a create, change or delete appends the events it emits (``models.platform_v1.resource_events``:
tickets, alerts, asset status, invoices) to the outbox in the same transaction (``append_resource_events``,
as every writer of records does), so a change is never committed without its event nor an event without
its change. Once it has committed, the caller nudges the relay when one has a delivery to make
(``events_to_deliver``, ``services.outbox.nudge_relay``).

References hold the way a foreign key would: a write that names a record takes a ``FOR KEY SHARE`` lock
on it, a delete takes ``FOR UPDATE`` on its record and then refuses (409 ``referenced``) while live
records name it. Whichever comes second sees the other's commit: a delete never leaves a live record
pointing at a deleted one.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Integer, cast, func, literal_column, union_all
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import defer
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import ApiError, BadRequest, Conflict, NotFound
from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.platform_v1.caller import Caller
from api.platform_v1.services.resource_bodies import validated_body
from integrations.stores.platform_events import append_resource_events
from models.common.base import iso_z, utcnow
from models.platform_v1.catalog import BY_NAME, REFERENCED_BY
from models.platform_v1.changes import changed_fields, merge_patch
from models.platform_v1.resource_events import DELETE, TicketSource
from models.platform_v1.resource_spec import ResourceSpec
from models.platform_v1.tables import (
    AuditRow,
    ResourceCountRow,
    ResourceRow,
    field_text,
    sort_expression,
)

ALWAYS_SORTABLE = {"createdAt": ResourceRow.created_at, "updatedAt": ResourceRow.updated_at}
#: The audit trail of one record: newest first by default; ``at`` ties (one transaction) go by sequence.
AUDIT_SORTS = SortFields(columns={"at": AuditRow.at, "version": AuditRow.version}, default_by="at",
                         default_order=SortOrder.DESC)
#: How many ids of the records of one kind that still name a record a refused delete shows.
REFERENCING_IDS_SHOWN = 10
#: A run of characters between two words (ASCII letters and digits).
_BETWEEN_WORDS = re.compile(r"[^A-Za-z0-9]{2,}")


class Gone(ApiError):
    status_code, code = 410, "gone"


class PreconditionFailed(ApiError):
    status_code, code = 412, "precondition_failed"


def new_id(spec: ResourceSpec) -> str:
    return f"{spec.prefix}_{uuid.uuid4().hex}"


def etag(row: ResourceRow) -> str:
    return f'"{row.version}"'


#: A record in its wire shape (``models.platform_v1.contracts.public_model`` documents it).
ResourceView = dict[str, Any]


def view(row: ResourceRow) -> ResourceView:
    """A resource in its wire shape: its body, with its id, workspace, version and times."""
    return {"id": row.id, "workspaceId": row.workspace_id, **row.data, "version": row.version,
            "createdAt": iso_z(row.created_at), "updatedAt": iso_z(row.updated_at),
            "createdBy": row.created_by, "updatedBy": row.updated_by}


def sort_fields(spec: ResourceSpec) -> SortFields:
    columns: dict[str, Any] = dict(ALWAYS_SORTABLE)
    for name, key in spec.sorts.items():
        columns[name] = literal_column(sort_expression(key))
    return SortFields(columns=columns, default_by="createdAt", default_order=SortOrder.DESC)


def search_terms(q: str) -> str:
    """``q`` as ``websearch_to_tsquery`` can always take it: that parser nests one NOT per ``-`` (``--a``
    is ``!!a``; punctuation between dashes does not stop it) and fails past 32 levels (``tsquery stack too
    small``), so each run of dashes between two words becomes one ``-`` or none, as its count is odd or
    even: the same query, never deeper than one NOT."""

    def one_dash_at_most(run: re.Match[str]) -> str:
        between = run.group()
        dashes = between.count("-")
        if dashes < 2:
            return between
        if dashes % 2 == 0:
            return between.replace("-", " ")
        last = between.rindex("-")
        return between[:last].replace("-", " ") + between[last:]

    return _BETWEEN_WORDS.sub(one_dash_at_most, q)


@dataclass(frozen=True)
class ListQuery:
    limit: int
    offset: int
    sort: Sort
    q: str | None
    filters: dict[str, str]


def _noun(resource: str, count: int) -> str:
    return resource if count != 1 else BY_NAME[resource].singular


def _field_value(field: str) -> Any:
    """A body field's value as text, written as its index is (``data ->> 'clientId'``), so the planner uses it."""
    return literal_column(field_text(field))


def if_match_holds(if_match: str | None, current: str) -> bool:
    """Whether ``If-Match`` (absent, ``*``, or a list of ETags) allows a change of the version ``current``.

    The comparison is strong (RFC 9110, 13.1.1): a weak tag ``W/"3"`` never matches, since a client sending
    one only claims an equivalent representation, not the version it means to change.
    """
    if if_match is None:
        return True
    offered = [tag.strip() for tag in if_match.split(",")]
    return "*" in offered or current in offered


class ResourceStore:
    def __init__(self, db: AsyncSession, caller: Caller) -> None:
        self.db = db
        self.caller = caller
        self.workspace_id = caller.tenant

    def _scoped(self, spec: ResourceSpec):
        return select(ResourceRow).where(ResourceRow.workspace_id == self.workspace_id, ResourceRow.kind == spec.name)

    async def _row(self, spec: ResourceSpec, resource_id: str, *, for_update: bool = False) -> ResourceRow:
        query = self._scoped(spec).where(ResourceRow.id == resource_id)
        row = (await self.db.exec(query.with_for_update() if for_update else query)).first()
        if row is None:
            raise NotFound(f"no {spec.singular} {resource_id} in this workspace", code="not_found")
        if row.deleted_at is not None:
            raise Gone(f"{spec.singular} {resource_id} was deleted")
        return row

    async def one(self, spec: ResourceSpec, resource_id: str) -> ResourceRow:
        return await self._row(spec, resource_id)

    async def page(self, spec: ResourceSpec, query: ListQuery) -> ListPage[ResourceView]:
        """One page of a list. The page's ids are picked first (an index walk of the workspace's rows, however
        deep the offset), then only those rows are read, without their search vector."""
        conditions = [ResourceRow.workspace_id == self.workspace_id, ResourceRow.kind == spec.name,
                      col(ResourceRow.deleted_at).is_(None)]
        conditions += [_field_value(name) == value for name, value in query.filters.items()]
        if query.q:
            conditions.append(ResourceRow.search.op("@@")(func.websearch_to_tsquery("simple", search_terms(query.q))))
        total = await self._total(spec, conditions, unfiltered=not query.filters and not query.q)
        sorting = sort_fields(spec)
        tiebreak = col(ResourceRow.id).desc() if query.sort.order == SortOrder.DESC else col(ResourceRow.id).asc()
        page_ids = sorting.apply(select(ResourceRow.id).where(*conditions), query.sort, tiebreak=tiebreak) \
            .limit(query.limit).offset(query.offset)
        rows = (await self.db.exec(sorting.apply(
            select(ResourceRow).options(defer(ResourceRow.search)).where(col(ResourceRow.id).in_(page_ids)),
            query.sort, tiebreak=tiebreak))).all()
        filters = {**query.filters, "q": query.q}
        return list_page([view(row) for row in rows], limit=query.limit, offset=query.offset, total=total,
                         sort=query.sort, filters=filters)

    async def check_references(self, spec: ResourceSpec, data: dict[str, Any]) -> None:
        for field, target in spec.references.items():
            value = data.get(field)
            if value is None:
                continue
            found = (await self.db.exec(self._scoped(BY_NAME[target]).where(
                ResourceRow.id == value, col(ResourceRow.deleted_at).is_(None))
                .with_for_update(read=True, key_share=True))).first()
            if found is None:
                raise BadRequest(f"{field}: no {BY_NAME[target].singular} {value} in this workspace",
                                 code="invalid_reference", extra={"fields": [
                                     {"field": f"body.{field}", "message": "names no record of this workspace",
                                      "type": "invalid_reference"}]})
            self._check_agreement(spec, data, field, found)

    @staticmethod
    def _check_agreement(spec: ResourceSpec, data: dict[str, Any], reference: str, found: ResourceRow) -> None:
        """400 naming the field when a field that must agree with the record ``reference`` names does not
        (a payment in EUR of an invoice in USD)."""
        for agreeing, through in spec.agrees_with.items():
            if through != reference or data.get(agreeing) == found.data.get(agreeing):
                continue
            theirs = found.data.get(agreeing)
            raise BadRequest(f"{agreeing} {data.get(agreeing)} is not the {agreeing} {theirs} of {found.id}",
                             code="validation_error", extra={"fields": [
                                 {"field": f"body.{agreeing}", "message": f"must be {theirs}, as {reference} has it",
                                  "type": f"{agreeing}_mismatch"}]})

    async def _refuse_disagreeing_referrers(self, spec: ResourceSpec, row: ResourceRow, data: dict[str, Any]) -> None:
        """400 naming the field when a change of it would leave live records that must agree with this one
        disagreeing (an invoice's currency changed under its payments). The row is locked ``FOR UPDATE``, so no
        record naming it is written meanwhile."""
        for source, field in REFERENCED_BY[spec.name]:
            for agreeing, through in source.agrees_with.items():
                value = data.get(agreeing)
                if through != field or value == row.data.get(agreeing):
                    continue
                live = (await self.db.exec(select(cast(func.count(), Integer)).select_from(ResourceRow).where(
                    *self._naming(source, field, row.id), _field_value(agreeing) != str(value)))).one()
                if live:
                    raise BadRequest(f"{agreeing}: {live} {_noun(source.name, live)} of {row.id} have another "
                                     f"{agreeing}; change theirs first", code="validation_error", extra={"fields": [
                                         {"field": f"body.{agreeing}", "message": f"{source.name} of this record are "
                                          f"in another {agreeing}", "type": f"{agreeing}_mismatch"}]})

    async def hold(self, spec: ResourceSpec, resource_id: str, *, exclusive: bool) -> None:
        """Lock a live record of this workspace until the transaction ends, as a change (``FOR UPDATE``) or a
        reference (``FOR KEY SHARE``) of it would; nothing when there is none. A write of several records takes
        its locks first, in one order, so two such writes wait for each other instead of deadlocking."""
        query = self._scoped(spec).where(ResourceRow.id == resource_id, col(ResourceRow.deleted_at).is_(None))
        await self.db.exec(query.with_only_columns(ResourceRow.id).with_for_update(  # type: ignore[call-overload]
            **({} if exclusive else {"read": True, "key_share": True})))

    def _naming(self, source: ResourceSpec, field: str, resource_id: str) -> list[Any]:
        """The conditions of the live records of ``source`` whose ``field`` names ``resource_id``."""
        return [ResourceRow.workspace_id == self.workspace_id, ResourceRow.kind == source.name,
                col(ResourceRow.deleted_at).is_(None), _field_value(field) == resource_id]

    async def refuse_if_referenced(self, spec: ResourceSpec, resource_id: str) -> None:
        """409 while live records of this workspace name ``resource_id`` (one index probe per reference);
        the refusal counts them and names up to ``REFERENCING_IDS_SHOWN`` of each kind."""
        probes = [select(literal_column(f"'{source.name}'").label("kind"), literal_column(f"'{field}'").label("field"),
                         cast(func.count(), Integer).label("live"))
                  .select_from(ResourceRow).where(*self._naming(source, field, resource_id))
                  for source, field in REFERENCED_BY[spec.name]]
        if not probes:
            return
        rows = (await self.db.exec(union_all(*probes))).all()
        referencing = []
        for kind, field, live in rows:
            if live:
                ids = (await self.db.exec(select(ResourceRow.id).where(*self._naming(BY_NAME[kind], field, resource_id))
                                          .limit(REFERENCING_IDS_SHOWN))).all()
                referencing.append({"resource": kind, "field": field, "count": live, "ids": sorted(ids)})
        if referencing:
            named = ", ".join(f"{ref['count']} {_noun(ref['resource'], ref['count'])} ({ref['field']})"
                              for ref in referencing)
            raise Conflict(f"{spec.singular} {resource_id} is still referenced by {named}: delete those or "
                           "change their reference first", code="referenced", extra={"references": referencing})

    async def _count(self, spec: ResourceSpec, change: int) -> None:
        """Keep the workspace's live count of ``spec`` (the unfiltered list's total) in this transaction."""
        await self.db.exec(insert(ResourceCountRow).values(workspace_id=self.workspace_id, kind=spec.name,
                                                           live=change)
                           .on_conflict_do_update(index_elements=["workspace_id", "kind"],
                                                  set_={"live": ResourceCountRow.live + change}))

    async def _total(self, spec: ResourceSpec, conditions: list[Any], unfiltered: bool) -> int:
        if unfiltered:
            live = (await self.db.exec(select(ResourceCountRow.live).where(
                ResourceCountRow.workspace_id == self.workspace_id, ResourceCountRow.kind == spec.name))).first()
            return int(live or 0)
        return (await self.db.exec(select(cast(func.count(), Integer)).select_from(ResourceRow)
                                   .where(*conditions))).one()

    def _audit(self, row: ResourceRow, action: str, changes: dict[str, Any]) -> None:
        self.db.add(AuditRow(workspace_id=self.workspace_id, kind=row.kind, resource_id=row.id, action=action,
                             actor=self.caller.actor, changes=changes, version=row.version,
                             correlation_id=self.caller.correlation_id))

    async def _emit(self, row: ResourceRow, before: dict[str, Any] | None, action: str, changes: dict[str, Any],
                    source: TicketSource = TicketSource.API) -> None:
        await append_resource_events(self.db, row, before, action, changes,
                                     correlation_id=self.caller.correlation_id, source=source)

    @staticmethod
    def _check_version(row: ResourceRow, if_match: str | None) -> None:
        if not if_match_holds(if_match, etag(row)):
            raise PreconditionFailed(f"If-Match {if_match} is not the current version {etag(row)}: read it again")

    async def create(self, spec: ResourceSpec, body: Any, *, source: TicketSource = TicketSource.API) -> ResourceRow:
        """A new record; ``source`` is how a ticket came to be (its ``ticket.created`` event says it)."""
        data = validated_body(spec, body)
        await self.check_references(spec, data)
        now = utcnow()
        row = ResourceRow(id=new_id(spec), workspace_id=self.workspace_id, kind=spec.name, data=data, version=1,
                          created_by=self.caller.actor, updated_by=self.caller.actor,
                          correlation_id=self.caller.correlation_id, created_at=now, updated_at=now)
        self.db.add(row)
        await self.db.flush()
        self._audit(row, "create", changed_fields({}, data))
        await self._count(spec, +1)
        await self._emit(row, None, "create", {}, source)
        return row

    async def replace(self, spec: ResourceSpec, resource_id: str, body: Any, if_match: str | None) -> ResourceRow:
        """PUT: the whole body."""
        return await self._update(spec, resource_id, if_match, "update", lambda current: body)

    async def patch(self, spec: ResourceSpec, resource_id: str, patch: Any, if_match: str | None) -> ResourceRow:
        """PATCH: a JSON merge patch of the current body; the result must be a valid body."""
        if not isinstance(patch, dict):
            raise BadRequest("a merge patch is a JSON object", code="validation_error")
        return await self._update(spec, resource_id, if_match, "patch", lambda current: merge_patch(current, patch))

    async def _update(self, spec: ResourceSpec, resource_id: str, if_match: str | None, action: str,
                      new_body: Callable[[dict[str, Any]], Any]) -> ResourceRow:
        row = await self._row(spec, resource_id, for_update=True)
        self._check_version(row, if_match)
        data = validated_body(spec, new_body(row.data))
        await self.check_references(spec, data)
        await self._refuse_disagreeing_referrers(spec, row, data)
        before = row.data
        changes = changed_fields(before, data)
        if changes:
            row.data, row.version = data, row.version + 1
            row.updated_by, row.updated_at = self.caller.actor, utcnow()
            self.db.add(row)
            await self.db.flush()
            self._audit(row, action, changes)
            await self._emit(row, before, action, changes)
        return row

    async def delete(self, spec: ResourceSpec, resource_id: str, if_match: str | None) -> ResourceRow:
        """Soft delete: the record leaves every list (409 while live records name it)."""
        row = await self._row(spec, resource_id, for_update=True)
        self._check_version(row, if_match)
        await self.refuse_if_referenced(spec, resource_id)
        row.deleted_at = row.updated_at = utcnow()
        row.updated_by, row.version = self.caller.actor, row.version + 1
        self.db.add(row)
        await self.db.flush()
        self._audit(row, "delete", {})
        await self._count(spec, -1)
        await self._emit(row, row.data, DELETE, {"deletedAt": {"from": None, "to": iso_z(row.deleted_at)}})
        return row

    async def audit(self, spec: ResourceSpec, resource_id: str, limit: int, offset: int,
                    sort: Sort) -> ListPage[dict[str, Any]]:
        """The changes of one record (deleted ones too), as ``AuditEntryPublic`` has them."""
        exists = (await self.db.exec(self._scoped(spec).where(ResourceRow.id == resource_id))).first()
        if exists is None:
            raise NotFound(f"no {spec.singular} {resource_id} in this workspace", code="not_found")
        scoped = select(AuditRow).where(AuditRow.workspace_id == self.workspace_id,
                                        AuditRow.resource_id == resource_id)
        total = (await self.db.exec(select(cast(func.count(), Integer)).select_from(scoped.subquery()))).one()
        tiebreak = col(AuditRow.seq).desc() if sort.order == SortOrder.DESC else col(AuditRow.seq).asc()
        ordered = AUDIT_SORTS.apply(scoped, sort, tiebreak=tiebreak)
        rows = (await self.db.exec(ordered.limit(limit).offset(offset))).all()
        data = [{"action": row.action, "actor": row.actor, "at": iso_z(row.at), "version": row.version,
                 "changes": row.changes, "correlationId": row.correlation_id} for row in rows]
        return list_page(data, limit=limit, offset=offset, total=total, sort=sort)
