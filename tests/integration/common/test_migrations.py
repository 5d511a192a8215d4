"""The alembic migrations build exactly the tables the models describe, and go down again."""

from __future__ import annotations

import uuid

import psycopg
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import create_engine, inspect, pool

from capstan.db import async_url
from capstan.migrate import alembic_config, upgrade_to_head
from models.registry import metadata


def fresh_database(stack_url: str) -> str:
    name = f"migrations_{uuid.uuid4().hex[:8]}"
    server = stack_url.rsplit("/", 1)[0]
    with psycopg.connect(server.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return f"{server}/{name}"


def test_head_matches_the_models_and_downgrades_cleanly(stack):
    url = fresh_database(stack.database_url)
    upgrade_to_head(url)
    engine = create_engine(async_url(url), poolclass=pool.NullPool)
    try:
        with engine.connect() as conn:
            diff = compare_metadata(MigrationContext.configure(conn, opts={"compare_type": True}), metadata)
        assert diff == [], f"models and migrations differ: {diff}"
        command.downgrade(alembic_config(url), "base")
        with engine.connect() as conn:
            assert set(inspect(conn).get_table_names()) == {"alembic_version"}
        upgrade_to_head(url)  # and up again, as a redeploy would
    finally:
        engine.dispose()
