"""Reading one row by its id, or answering 404: one definition for every route."""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import NotFound
from models.common.limits import PG_INTEGER_MAX

M = TypeVar("M", bound=SQLModel)


def record_exists(record_id: int) -> bool:
    """Whether ``record_id`` can name a row at all (a positive Postgres integer): a larger one names
    nothing (404), rather than failing the query."""
    return 0 < record_id <= PG_INTEGER_MAX


async def get_or_404(session: AsyncSession, model: type[M], record_id: int, error_code: str,
                     name: str | None = None) -> M:
    """The row of ``model`` with this id, or 404 ``error_code`` ("<name> <id> not found")."""
    row = await session.get(model, record_id) if record_exists(record_id) else None
    if row is None:
        raise NotFound(f"{name or model.__name__.lower()} {record_id} not found", code=error_code)
    return row
