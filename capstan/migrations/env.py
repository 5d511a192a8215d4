"""Alembic environment: sees every table through ``models.registry``."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool

from capstan.db import async_url
from models.registry import metadata

config = context.config


def run_migrations_online() -> None:
    url = async_url(config.get_main_option("sqlalchemy.url"))
    engine = create_engine(url, poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=metadata, compare_type=True)
        with context.begin_transaction():
            context.run_migrations()
    engine.dispose()


def run_migrations_offline() -> None:
    context.configure(url=config.get_main_option("sqlalchemy.url"), target_metadata=metadata,
                      literal_binds=True)
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
