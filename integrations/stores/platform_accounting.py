"""What an accounting sync reads and writes in Postgres: the snapshot it sends (the workspace's live clients and
non-draft invoices) and the payments of the answer, applied in one transaction.

A payment is applied once: its (workspace, invoice, ``externalId``) is inserted in
``platform_accounting_payments`` first, and a conflict there (Postgres deciding, however many syncs run) skips
it. A payment for an invoice that is not a live invoice of the workspace is rejected. An ``issued`` or
``overdue`` invoice whose live payments reach its amount, compared as ``numeric`` in Postgres, becomes ``paid``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, cast, func, literal_column, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.accounting import ReportedPayment
from integrations.stores.platform_record_writes import Writer, create_records, update_record
from models.platform_v1.catalog import BY_NAME
from models.platform_v1.job_tables import AccountingPaymentRow
from models.platform_v1.tables import ResourceRow, field_text

PAYABLE = ("issued", "overdue")
PAYMENTS = BY_NAME["payments"]


def _live(workspace_id: str, kind: str):
    return select(ResourceRow).where(ResourceRow.workspace_id == workspace_id, ResourceRow.kind == kind,
                                     col(ResourceRow.deleted_at).is_(None))


async def sync_snapshot(session: AsyncSession, workspace_id: str, job_id: str) -> tuple[bytes, int, int]:
    """The call's body and how many clients and invoices it sends."""
    clients = (await session.exec(_live(workspace_id, "clients").order_by(col(ResourceRow.created_at)))).all()
    invoices = (await session.exec(_live(workspace_id, "invoices").where(
        literal_column(field_text("status")) != "draft").order_by(col(ResourceRow.created_at)))).all()
    body = {
        "workspaceId": workspace_id, "jobId": job_id,
        "clients": [{"id": row.id, "name": row.data.get("name"), "email": row.data.get("email"),
                     "status": row.data.get("status")} for row in clients],
        "invoices": [{"id": row.id, "clientId": row.data.get("clientId"), "number": row.data.get("number"),
                      "status": row.data.get("status"), "issueDate": row.data.get("issueDate"),
                      "dueDate": row.data.get("dueDate"), "amount": row.data.get("amount"),
                      "currency": row.data.get("currency")} for row in invoices],
    }
    return json.dumps(body, separators=(",", ":")).encode(), len(clients), len(invoices)


@dataclass
class Applied:
    created: int = 0
    skipped: int = 0
    rejected: int = 0


def _json_amount(amount: Decimal) -> Any:
    """The amount as the JSON number of its text (``12.30`` → ``12.3``; exact for money's digits)."""
    normalized = amount.normalize()
    return int(normalized) if normalized == normalized.to_integral_value() else float(normalized)


async def _paid_in_full(session: AsyncSession, workspace_id: str, invoice_id: str) -> bool:
    """Whether the invoice's live payments reach its amount, both summed and compared as ``numeric`` in Postgres
    (from the JSON text: never floats)."""
    amount = cast(literal_column(field_text("amount")), Numeric)
    paid = select(func.coalesce(func.sum(amount), 0)).select_from(ResourceRow).where(
        ResourceRow.workspace_id == workspace_id, ResourceRow.kind == "payments", col(ResourceRow.deleted_at).is_(None),
        literal_column(field_text("invoiceId")) == invoice_id).scalar_subquery()
    owed = select(amount).select_from(ResourceRow).where(ResourceRow.id == invoice_id,
                                                         ResourceRow.workspace_id == workspace_id).scalar_subquery()
    return bool((await session.exec(select(paid >= owed))).one())


async def apply_payments(session: AsyncSession, writer: Writer, payments: list[ReportedPayment],
                         execution_id: str) -> Applied:
    """Apply the reported payments in the caller's transaction (see the module's rules)."""
    applied = Applied()
    touched: dict[str, ResourceRow] = {}
    for payment in payments:
        invoice = touched.get(payment.invoiceId) or (await session.exec(
            _live(writer.workspace_id, "invoices").where(ResourceRow.id == payment.invoiceId).with_for_update()
        )).first()
        if invoice is None:
            applied.rejected += 1
            continue
        touched[invoice.id] = invoice
        claimed = (await session.exec(insert(AccountingPaymentRow).values(
            workspace_id=writer.workspace_id, invoice_id=invoice.id, external_id=payment.externalId,
            payment_id="", execution_id=execution_id,
        ).on_conflict_do_nothing().returning(AccountingPaymentRow.external_id))).first()
        if claimed is None:
            applied.skipped += 1
            continue
        record = PAYMENTS.schema.model_validate({
            "invoiceId": invoice.id, "amount": _json_amount(payment.amount), "currency": payment.currency,
            "method": payment.method, "receivedAt": payment.receivedAt, "reference": payment.externalId,
        }).model_dump(mode="json", exclude_none=True)
        record["amount"] = _json_amount(payment.amount)
        [row] = await create_records(session, writer, PAYMENTS, [record])
        await session.exec(update(AccountingPaymentRow).where(
            col(AccountingPaymentRow.workspace_id) == writer.workspace_id,
            col(AccountingPaymentRow.invoice_id) == invoice.id,
            col(AccountingPaymentRow.external_id) == payment.externalId,
        ).values(payment_id=row.id))
        applied.created += 1
    for invoice in touched.values():
        if invoice.data.get("status") in PAYABLE and await _paid_in_full(session, writer.workspace_id, invoice.id):
            await update_record(session, writer, invoice, {**invoice.data, "status": "paid"})
    return applied
