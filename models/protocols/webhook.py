"""Webhook deliveries, recorded once per delivery id."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import false
from sqlmodel import Field, SQLModel

from models.common.base import created_at_field


class WebhookDelivery(SQLModel, table=True):
    __tablename__ = "webhook_deliveries"

    id: int | None = Field(default=None, primary_key=True)
    provider: str = Field(max_length=20)
    delivery_id: str = Field(max_length=200, unique=True)
    event_name: str = Field(max_length=100)
    protocol_run_id: int | None = Field(default=None, foreign_key="protocol_runs.id", ondelete="SET NULL")
    # Set once the run's workflow has the signal; a redelivery before that signals again
    # (the workflow ignores a delivery id it has seen).
    signalled: bool = Field(default=False, sa_column_kwargs={"server_default": false()})
    created_at: datetime = created_at_field()
