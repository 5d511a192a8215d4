"""A verified, parsed delivery: match it to a protocol run, record it, signal the run.

The delivery row and its event are written by one statement, the ``ci_report`` signal is
sent after it, and the row is marked ``signalled`` only once Temporal has the signal, so a
redelivery after a crash (or a 503) signals again; the workflow ignores delivery ids it has
already seen.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel
from sqlalchemy import Insert, func, literal, or_, update
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common.errors import NotFound
from api.protocols.services.protocol_workflows import signal_ci_report
from api.protocols.services.runs import get_run
from api.protocols.webhooks.github import read_github
from api.protocols.webhooks.gitlab import read_gitlab
from api.protocols.webhooks.mapping import (
    GITHUB,
    ForgeNotice,
    branch_candidates,
    ci_report,
    event_message,
    event_type_of,
)
from capstan.db import use_autocommit
from capstan.settings import Settings
from models.protocols.event import Event
from models.protocols.protocol import ProtocolRun
from models.protocols.webhook import WebhookDelivery
from models.protocols.workflow_io import PROJECT_SETUP_PREFIX, CiReport

log = logging.getLogger(__name__)

PONG = "pong"
RECORDED = "Webhook recorded"
IGNORED = "Webhook ignored"
DUPLICATE = "Duplicate delivery ignored"


class WebhookAnswer(BaseModel):
    """The ``{"message": str, "job": null}`` every webhook answers with."""

    message: str
    job: dict[str, Any] | None = None


@dataclass(frozen=True)
class Delivery:
    provider: str
    event_name: str
    delivery_id: str | None
    payload: dict[str, Any]

    def notice(self) -> ForgeNotice:
        return (read_github if self.provider == GITHUB else read_gitlab)(self.event_name, self.payload)


async def find_run(session: AsyncSession, protocol_run_id: int | None, branch: str | None) -> ProtocolRun | None:
    """By explicit id (unknown → 404), else the newest run named after the branch."""
    if protocol_run_id is not None:
        return await get_run(session, protocol_run_id)
    for name in branch_candidates(branch):
        query = (select(ProtocolRun).where(ProtocolRun.protocol_name == name,
                                           or_(col(ProtocolRun.workflow_id).is_(None),
                                               ~col(ProtocolRun.workflow_id).startswith(PROJECT_SETUP_PREFIX)))
                 .order_by(col(ProtocolRun.id).desc()).limit(1))
        run = (await session.exec(query)).first()
        if run is not None:
            return run
    return None


def record_statement(run: ProtocolRun, delivery: Delivery, notice: ForgeNotice, outcome: str | None) -> Insert:
    """One statement that inserts the delivery row and, only when its delivery id is new, its event.

    It returns the new event's id, or no row for a delivery id seen before.
    """
    events = Event.__table__
    event = {"project_id": run.project_id, "protocol_run_id": run.id, "event_type": event_type_of(notice),
             "message": event_message(notice, outcome)[:20000],
             "metadata": {"provider": notice.provider, "delivery_id": delivery.delivery_id,
                          "event": notice.event_name, "action": notice.action, "status": notice.status,
                          "outcome": outcome, "branch": notice.branch, "url": notice.url}}
    if delivery.delivery_id is None:
        return insert(events).values(event).returning(events.c.id)
    deliveries = WebhookDelivery.__table__
    # created_at is given in both INSERTs: its Python-side default would bind the same name twice.
    new_delivery = (insert(deliveries)
                    .values(provider=delivery.provider, delivery_id=delivery.delivery_id,
                            event_name=delivery.event_name[:100], protocol_run_id=run.id, created_at=func.now())
                    .on_conflict_do_nothing(index_elements=["delivery_id"])
                    .returning(deliveries.c.id)
                    .cte("new_delivery"))
    event_row = select(*(literal(value, events.c[name].type) for name, value in event.items()),
                       func.now()).select_from(new_delivery)
    return insert(events).from_select([*event, "created_at"], event_row).returning(events.c.id)


async def _record(session: AsyncSession, run: ProtocolRun, delivery: Delivery, notice: ForgeNotice,
                  outcome: str | None) -> WebhookDelivery | None:
    """Record the delivery and its event; the existing row when this delivery id was recorded before."""
    if (await session.exec(record_statement(run, delivery, notice, outcome))).first() is not None:
        return None
    existing = select(WebhookDelivery).where(WebhookDelivery.delivery_id == delivery.delivery_id)
    return (await session.exec(existing)).one()


async def _signal(session: AsyncSession, temporal: Client, settings: Settings, run: ProtocolRun,
                  report: CiReport) -> None:
    await signal_ci_report(session, temporal, settings, run, report, retry_after=10,
                           unavailable_detail="the workflow service is unavailable; the delivery is recorded, "
                                              "send it again")
    if report.delivery_id is not None:
        await use_autocommit(session)
        await session.exec(update(WebhookDelivery).where(col(WebhookDelivery.delivery_id) == report.delivery_id)
                           .values(signalled=True))
    await session.commit()


async def receive(session: AsyncSession, temporal: Client, settings: Settings, delivery: Delivery,
                  protocol_run_id: int | None) -> WebhookAnswer:
    """Handle a verified, parsed delivery (see docs/api/webhooks.md for every case)."""
    if delivery.provider == GITHUB and delivery.event_name == "ping":
        return WebhookAnswer(message=PONG)
    await use_autocommit(session)  # every write below is one statement
    notice = delivery.notice()
    run = await find_run(session, protocol_run_id, notice.branch)
    if run is None:
        if not notice.supported:
            return WebhookAnswer(message=IGNORED)
        raise NotFound(f"no protocol run for branch {notice.branch!r}" if notice.branch
                       else "no branch in the payload and no protocol_run_id given", code="protocol_run_not_found")
    report = ci_report(notice, delivery.delivery_id)
    existing = await _record(session, run, delivery, notice, report.outcome if report else None)
    if existing is not None and (existing.signalled or report is None):
        return WebhookAnswer(message=DUPLICATE)
    if report is not None:
        await _signal(session, temporal, settings, run, report)
    return WebhookAnswer(message=RECORDED if notice.supported else IGNORED)
