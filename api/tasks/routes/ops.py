"""Operator checks of the tasks surface, without auth: which settings are set (never their values), the
database's readiness, and GitHub's rate limit."""

from __future__ import annotations

import asyncio
import functools
from datetime import UTC, datetime

from alembic.script import ScriptDirectory
from fastapi import APIRouter, Request
from sqlalchemy import text

from api.common.deps import SettingsDep
from api.tasks.github_errors import iso, minutes_until
from api.tasks.services.github_data import github_client
from api.tasks.session import MaybeSessionUser
from capstan.migrate import alembic_config
from capstan.settings import Settings
from integrations.github.client import LAST_RATE_LIMIT, GitHubError
from models.common.settings import secret_value

router = APIRouter(tags=["tasks-ops"])

CHECK_TIMEOUT = 5.0
LOW_REMAINING = 100


def environment_status(settings: Settings) -> dict[str, bool]:
    """Each required setting, set under its Capstan name or its alias."""
    app, tasks = settings.github_app, settings.tasks
    return {
        "SESSION_SECRET": bool(secret_value(tasks.session_secret)),
        "WEBHOOK_SECRET": bool(secret_value(tasks.webhook_secret)),
        "CALLBACK_SECRET": bool(secret_value(tasks.callback_secret)),
        "GITHUB_CLIENT_ID": bool(app.client_id),
        "GITHUB_CLIENT_SECRET": bool(secret_value(app.client_secret)),
        "GITHUB_APP_ID": bool(app.app_id),
        "GITHUB_APP_PRIVATE_KEY": bool(app.private_key_pem()),
        "CAPSTAN_SECRETS_KEY": bool(secret_value(settings.secrets.key)),
    }


@functools.cache
def _migration_heads() -> frozenset[str]:
    return frozenset(ScriptDirectory.from_config(alembic_config("postgresql://unused")).get_heads())


async def database_status(request: Request) -> dict[str, object]:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT), request.app.state.engine.connect() as connection:
            await connection.execute(text("SELECT 1"))
            try:
                versions = {row[0] for row in await connection.execute(text("SELECT version_num FROM alembic_version"))}
            except Exception:  # no alembic_version table: never migrated
                return {"connected": True, "migrated": False, "error": "the database has not been migrated"}
    except Exception as exc:  # the type only: a driver message may name the host or the user
        return {"connected": False, "migrated": False, "error": f"cannot reach the database ({type(exc).__name__})"}
    heads = await asyncio.to_thread(_migration_heads)
    migrated = versions == heads
    return {"connected": True, "migrated": migrated,
            "error": None if migrated else "the database is not at the latest migration: run capstan migrate"}


@router.get("/api/startup/check", summary="Which required settings are set and whether the database is ready")
async def startup_check(request: Request, settings: SettingsDep) -> dict:
    environment = environment_status(settings)
    missing = [name for name, present in environment.items() if not present]
    database = await database_status(request)
    return {"ok": not missing and bool(database["connected"]) and bool(database["migrated"]),
            "environment": environment, "missingEnv": missing, "database": database}


def rate_limit_answer(remaining: int, reset: int) -> dict:
    reset_time = datetime.fromtimestamp(reset, UTC)
    return {"remaining": remaining, "reset": reset, "resetTime": iso(reset_time),
            "minutesUntilReset": minutes_until(reset_time), "isLow": remaining < LOW_REMAINING}


@router.get("/api/rate-limit", summary="GitHub's core rate limit: the user's with a session, else the last seen")
async def rate_limit(signed_in: MaybeSessionUser, settings: SettingsDep) -> dict:
    if signed_in is not None:
        try:
            async with github_client(settings, signed_in.token) as github:
                core = ((await github.get_rate_limit() or {}).get("resources") or {}).get("core") or {}
            remaining, reset = core.get("remaining"), core.get("reset")
            if isinstance(remaining, int) and isinstance(reset, int):
                return rate_limit_answer(remaining, reset)
        except GitHubError:
            pass  # what this process last saw is the best answer left
    return rate_limit_answer(LAST_RATE_LIMIT.remaining, LAST_RATE_LIMIT.reset)
