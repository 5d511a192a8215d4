"""A GitHub user's stored config and sealed secrets, read by the runs and by the API.

The config row holds no secret; each secret is a row of its own (``flyToken``,
``<provider>.<ENV_KEY>``), sealed with the secrets key.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from capstan.secrets import SecretBox
from models.tasks.config import effective_config
from models.tasks.tables import TaskUserConfigRow, TaskUserSecretRow


async def stored_config(session: AsyncSession, user_id: int | None) -> dict[str, Any]:
    """The user's config over the defaults (the defaults alone for nobody or a user without one)."""
    row = await session.get(TaskUserConfigRow, user_id) if user_id is not None else None
    return effective_config(row.config if row else None)


async def secret_changes(session: AsyncSession, user_id: int | None) -> dict[str, datetime]:
    """Names of the user's stored secrets and when each last changed: what may be shown."""
    if user_id is None:
        return {}
    rows = (await session.exec(select(TaskUserSecretRow).where(TaskUserSecretRow.user_id == user_id))).all()
    return {row.name: row.changed_at for row in rows}


async def opened_secrets(session: AsyncSession, box: SecretBox, user_id: int | None) -> dict[str, str]:
    """The user's secrets in clear, for a run's environment; never for a response."""
    if user_id is None:
        return {}
    rows = (await session.exec(select(TaskUserSecretRow).where(TaskUserSecretRow.user_id == user_id))).all()
    return {row.name: box.open_value(row.sealed_value) for row in rows}


def provider_env(secrets: dict[str, str]) -> dict[str, str]:
    """``{"anthropic.ANTHROPIC_API_KEY": v}`` → ``{"ANTHROPIC_API_KEY": v}`` (``flyToken`` is no provider key)."""
    return {name.split(".", 1)[1]: value for name, value in secrets.items() if "." in name}
