"""Holding a request of the API inside Postgres, without sleeping: a test locks what the request needs from
its own transaction, waits until the request waits for that lock, does what it means to do meanwhile, and
lets go."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

#: How long a test waits for a request to block on its lock before it fails.
BLOCK_SECONDS = 20.0


async def await_blocked(db_engine: AsyncEngine, statement: str) -> None:
    """Until a session of the app waits for a lock in a statement starting with ``statement``: Postgres
    announces no such event, so its activity view is asked, for at most BLOCK_SECONDS."""
    deadline = time.monotonic() + BLOCK_SECONDS
    async with db_engine.connect() as conn:
        while True:
            waiting = (await conn.execute(text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid() AND query ILIKE :statement"),
                {"statement": f"{statement}%"})).scalar_one()
            if waiting:
                return
            assert time.monotonic() < deadline, f"no request blocked in {statement!r} within {BLOCK_SECONDS} s"
            await conn.rollback()
            await asyncio.sleep(0.01)


@contextlib.asynccontextmanager
async def locked(db_engine: AsyncEngine, statement: str, **params: Any) -> AsyncIterator[AsyncConnection]:
    """``statement`` (a LOCK or a SELECT … FOR UPDATE) held in an open transaction until the block ends."""
    async with db_engine.connect() as conn, conn.begin():
        await conn.execute(text(statement), params)
        yield conn
