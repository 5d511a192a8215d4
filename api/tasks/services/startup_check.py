"""``GET /api/startup/check``: which settings the tasks surface needs are set (never their values), and whether
the database is reachable and at the latest migration."""

from __future__ import annotations

import asyncio
import functools

from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from capstan.migrate import alembic_config
from capstan.settings import Settings
from models.common.settings import secret_value
from models.tasks.ops_views import DatabaseStatus, RequiredSettings, StartupCheck

CHECK_TIMEOUT = 5.0


def environment_status(settings: Settings) -> RequiredSettings:
    """Each required setting, set under its Capstan name or its alias."""
    app, tasks = settings.github_app, settings.tasks
    return RequiredSettings(
        SESSION_SECRET=bool(secret_value(tasks.session_secret)),
        WEBHOOK_SECRET=bool(secret_value(tasks.webhook_secret)),
        CALLBACK_SECRET=bool(secret_value(tasks.callback_secret)),
        GITHUB_CLIENT_ID=bool(app.client_id),
        GITHUB_CLIENT_SECRET=bool(secret_value(app.client_secret)),
        GITHUB_APP_ID=bool(app.app_id),
        GITHUB_APP_PRIVATE_KEY=bool(app.private_key_pem()),
        CAPSTAN_SECRETS_KEY=bool(secret_value(settings.secrets.key)),
    )


@functools.cache
def _migration_heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_heads())


async def database_status(engine: AsyncEngine) -> DatabaseStatus:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            try:
                versions = {row[0] for row in await connection.execute(text("SELECT version_num FROM alembic_version"))}
            except Exception:  # no alembic_version table: never migrated
                return DatabaseStatus(connected=True, migrated=False, error="the database has not been migrated")
    except Exception as exc:  # the type only: a driver message may name the host or the user
        return DatabaseStatus(connected=False, migrated=False,
                              error=f"cannot reach the database ({type(exc).__name__})")
    heads = await asyncio.to_thread(_migration_heads)
    migrated = versions == heads
    error = None if migrated else "the database is not at the latest migration: run capstan migrate"
    return DatabaseStatus(connected=True, migrated=migrated, error=error)


async def startup_check(settings: Settings, engine: AsyncEngine) -> StartupCheck:
    environment = environment_status(settings)
    missing = environment.missing()
    database = await database_status(engine)
    return StartupCheck(ok=not missing and database.connected and database.migrated, environment=environment,
                        missingEnv=missing, database=database)
