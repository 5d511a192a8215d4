"""Handing a request's connection back while it waits on Temporal, keeping what it read."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession


async def hand_back(db: AsyncSession) -> None:
    """End the session's transaction (its connection goes back to the pool, never held across a Temporal call)
    and keep the rows it loaded readable: detached, not expired as a rollback would leave them."""
    db.expunge_all()
    await db.rollback()
