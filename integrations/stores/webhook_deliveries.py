"""The deliveries the platform API's signed webhooks have answered (``platform_webhook_deliveries``).

A delivery id is seen once per source (``agentfield``, ``github``): the unique constraint
``uq_platform_webhook_deliveries`` decides, so of two concurrent deliveries of one id exactly one writes its
row and the other answers ``duplicate``. ``delivery_seen`` is only the cheap early answer for a delivery sent
again long after; ``record_delivery`` is the decision, written in the caller's transaction (with the change the
delivery causes, so a refused delivery, or one whose change failed, is not recorded as seen).
"""

from __future__ import annotations

from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from models.common.base import utcnow
from models.platform_v1.engine_tables import WebhookDeliveryRow


async def delivery_seen(db: AsyncSession, source: str, delivery_id: str) -> bool:
    found = (await db.exec(select(WebhookDeliveryRow.id).where(
        WebhookDeliveryRow.source == source, WebhookDeliveryRow.delivery_id == delivery_id))).first()
    return found is not None


async def record_delivery(db: AsyncSession, *, source: str, delivery_id: str, workspace_id: str | None,
                          subject_id: str | None, outcome: str, prevails: bool = False) -> bool:
    """Add the delivery's row to the session's transaction; whether it is the first under its id (the caller
    rolls back its change when it is not, and commits otherwise).

    ``prevails``: this copy's outcome is the one that took effect (a callback the workflow accepted), and it
    replaces the row of a concurrent copy that was answered before it was (an ``ignored`` one, refused because
    this copy's outcome had just been taken): the row then says what happened, and this copy answers it."""
    statement = insert(WebhookDeliveryRow).values(
        source=source, delivery_id=delivery_id, workspace_id=workspace_id, subject_id=subject_id, outcome=outcome,
        received_at=utcnow())
    if prevails:
        statement = statement.on_conflict_do_update(
            constraint="uq_platform_webhook_deliveries", set_={"outcome": outcome},
            where=col(WebhookDeliveryRow.outcome) != outcome)
    else:
        statement = statement.on_conflict_do_nothing(constraint="uq_platform_webhook_deliveries")
    written = (await db.exec(statement.returning(col(WebhookDeliveryRow.id)))).first()
    return written is not None
