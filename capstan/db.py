"""The async SQLAlchemy engine and sessions (psycopg 3), one engine per process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel.ext.asyncio.session import AsyncSession

from capstan.settings import DatabaseSettings

SessionFactory = async_sessionmaker[AsyncSession]


def async_url(url: str) -> str:
    """Accept plain ``postgresql://`` URLs too and pin the psycopg 3 driver."""
    for prefix in ("postgresql+psycopg://", "postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def create_engine(settings: DatabaseSettings) -> AsyncEngine:
    return create_async_engine(
        async_url(settings.url),
        pool_size=settings.pool_size,
        max_overflow=settings.max_overflow,
        pool_pre_ping=True,
    )


def create_session_factory(engine: AsyncEngine) -> SessionFactory:
    return async_sessionmaker(engine, class_=AsyncSession, expire_on_commit=False)


@asynccontextmanager
async def session_scope(factory: SessionFactory) -> AsyncIterator[AsyncSession]:
    """A session committed on success and rolled back on error."""
    async with factory() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise


async def use_autocommit(session: AsyncSession) -> None:
    """Run the session's statements, until its next commit, each as its own transaction.

    Saves the ``BEGIN``/``COMMIT`` round trips on hot paths whose every write is
    a single statement (the webhook route). Call it before the session's first
    statement; the connection's isolation level is reset when it returns to the pool.
    """
    await session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
