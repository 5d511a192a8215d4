"""``GET /agent-runtime/failures``: what is failed now, of three kinds, newest first.

- ``execution``: a failed ``agent`` or ``smoke`` execution (its ``failureCode``), retried by
  ``POST /workflow-executions/{id}/retry``;
- ``job``: a failed job (its ``errorCode``), retried by ``POST /agent-runtime/job-failures/{id}/retry``;
- ``outbox``: a failed event (``platform_events`` status ``failed``; ``delivery_failed``, the last error of its
  failed deliveries), retried by ``POST /agent-runtime/outbox-failures/{id}/retry``.

One ``UNION ALL`` ordered by ``failedAt``: an item leaves once retried (its record is no longer failed).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Integer, String, cast, func, literal, select, union_all
from sqlalchemy.sql import Select
from sqlmodel import col
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.platform_v1.caller import Caller
from api.platform_v1.services.connections import hand_back
from models.platform_v1.engine_tables import ExecutionRow
from models.platform_v1.event_tables import EventDeliveryRow, EventRow
from models.platform_v1.executions import ExecutionStatus, ExecutionType
from models.platform_v1.job_contracts import FailurePublic
from models.platform_v1.jobs import FailureKind

FAILURE_SORTS = SortFields(columns={"failedAt": "failed_at"}, default_by="failedAt", default_order=SortOrder.DESC)
OUTBOX_CODE = "delivery_failed"
ROUTES = {FailureKind.EXECUTION: "/api/v1/workflow-executions/{}/retry",
          FailureKind.JOB: "/api/v1/agent-runtime/job-failures/{}/retry",
          FailureKind.OUTBOX: "/api/v1/agent-runtime/outbox-failures/{}/retry"}


def _executions(workspace_id: str) -> Select:
    return select(ExecutionRow.id.label("id"), literal(FailureKind.EXECUTION.value, String).label("kind"),
                  ExecutionRow.failure_code.label("code"), ExecutionRow.failure_message.label("message"),
                  func.coalesce(ExecutionRow.completed_at, ExecutionRow.created_at).label("failed_at")).where(
        ExecutionRow.workspace_id == workspace_id, ExecutionRow.status == ExecutionStatus.FAILED,
        col(ExecutionRow.type).in_((ExecutionType.AGENT, ExecutionType.SMOKE)), col(ExecutionRow.job_id).is_(None))


def _jobs(workspace_id: str) -> Select:
    return select(ExecutionRow.job_id.label("id"), literal(FailureKind.JOB.value, String).label("kind"),
                  ExecutionRow.failure_code.label("code"), ExecutionRow.failure_message.label("message"),
                  func.coalesce(ExecutionRow.completed_at, ExecutionRow.created_at).label("failed_at")).where(
        ExecutionRow.workspace_id == workspace_id, ExecutionRow.status == ExecutionStatus.FAILED,
        col(ExecutionRow.job_id).is_not(None))


def _events(workspace_id: str) -> Select:
    failed = select(EventDeliveryRow.event_id, func.max(EventDeliveryRow.updated_at).label("failed_at"),
                    func.max(EventDeliveryRow.last_error).label("last_error")).where(
        EventDeliveryRow.workspace_id == workspace_id, EventDeliveryRow.status == "failed"
    ).group_by(EventDeliveryRow.event_id).subquery()
    return select(EventRow.id.label("id"), literal(FailureKind.OUTBOX.value, String).label("kind"),
                  literal(OUTBOX_CODE, String).label("code"), failed.c.last_error.label("message"),
                  func.coalesce(failed.c.failed_at, EventRow.created_at).label("failed_at")).select_from(
        EventRow).outerjoin(failed, failed.c.event_id == EventRow.id).where(
        EventRow.workspace_id == workspace_id, EventRow.status == "failed")


async def failure_page(db: AsyncSession, caller: Caller, *, limit: int, offset: int, sort: Sort,
                       kind: FailureKind | None) -> ListPage[FailurePublic]:
    parts = {FailureKind.EXECUTION: _executions, FailureKind.JOB: _jobs, FailureKind.OUTBOX: _events}
    chosen = [build(caller.tenant) for name, build in parts.items() if kind is None or kind == name]
    items = union_all(*chosen).subquery() if len(chosen) > 1 else chosen[0].subquery()
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(items))).one()[0]  # type: ignore[call-overload]
    desc = sort.order == SortOrder.DESC
    ordered = select(items).order_by(items.c.failed_at.desc() if desc else items.c.failed_at.asc(),
                                     items.c.id.desc() if desc else items.c.id.asc()).limit(limit).offset(offset)
    rows: list[Any] = list((await db.exec(ordered)).all())  # type: ignore[call-overload]
    await hand_back(db)
    data = [FailurePublic.model_construct(id=row.id, kind=FailureKind(row.kind), code=row.code or "internal_error",
                                          message=row.message, failedAt=row.failed_at,
                                          retryPath=ROUTES[FailureKind(row.kind)].format(row.id)) for row in rows]
    return list_page(data, limit=limit, offset=offset, total=total, sort=sort, filters={"kind": kind})
