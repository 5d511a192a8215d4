"""The accounting sync's record of the payments it applied: one row per (workspace, invoice, ``externalId``),
so a payment the accounting system reports again is skipped, Postgres deciding (its primary key)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, Text
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field


class AccountingPaymentRow(SQLModel, table=True):
    __tablename__ = "platform_accounting_payments"

    workspace_id: str = Field(sa_column=Column(Text, primary_key=True))
    invoice_id: str = Field(sa_column=Column(Text, primary_key=True))
    external_id: str = Field(sa_column=Column(Text, primary_key=True))
    payment_id: str = Field(sa_column=Column(Text, nullable=False))
    execution_id: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    created_at: datetime = created_at_field()
