"""A user's task config in Postgres: the config without secrets (``task_user_configs``) and each secret
sealed apart (``task_user_secrets``). Secrets are opened only to be used (validation); answers carry only
``secretStatus`` (``models.tasks.config``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlmodel.ext.asyncio.session import AsyncSession

from capstan.secrets import SecretBox
from capstan.settings import Settings
from integrations.stores.task_users import secret_changes, stored_config
from models.common.base import utcnow
from models.tasks.agents import BUILTIN_AGENTS, AgentSpec, agent_catalog
from models.tasks.config import (
    DEFAULT_ENABLED_AGENTS,
    FLY_TOKEN,
    public_config,
    secret_status,
)
from models.tasks.tables import TaskUserConfigRow, TaskUserSecretRow


def catalog_of(settings: Settings) -> dict[str, AgentSpec]:
    """The agents the deployment knows; a bad ``CAPSTAN_TASKS_AGENTS`` falls back to the built-ins here (the
    worker refuses to start with it)."""
    try:
        return agent_catalog(settings.tasks.agents)
    except ValueError:
        return dict(BUILTIN_AGENTS)


class UserConfigStore:
    def __init__(self, db: AsyncSession, box: SecretBox, user_id: int) -> None:
        self.db = db
        self.box = box
        self.user_id = user_id

    async def stored(self) -> dict[str, Any] | None:
        row = await self.db.get(TaskUserConfigRow, self.user_id)
        return dict(row.config) if row is not None else None

    async def config(self) -> dict[str, Any]:
        """The stored config over the defaults, without secrets."""
        return await stored_config(self.db, self.user_id)

    async def secret_times(self) -> dict[str, datetime]:
        return await secret_changes(self.db, self.user_id)

    async def secret(self, name: str) -> str | None:
        """One secret, opened, or ``None`` when it is not set."""
        row = await self.db.get(TaskUserSecretRow, (self.user_id, name))
        return self.box.open_value(row.sealed_value) if row is not None else None

    async def status(self, config: dict[str, Any] | None = None) -> dict[str, Any]:
        config = config if config is not None else await self.config()
        return secret_status(await self.secret_times(), config.get("flyAppName"))

    async def public(self, settings: Settings) -> dict[str, Any]:
        """``GET /api/config``'s answer."""
        config = await self.config()
        return public_config(config, await self.status(config), catalog_of(settings))

    async def save_config(self, config: dict[str, Any]) -> None:
        statement = insert(TaskUserConfigRow).values(user_id=self.user_id, config=config, updated_at=utcnow())
        await self.db.exec(statement.on_conflict_do_update(index_elements=["user_id"],
                                                           set_={"config": config, "updated_at": utcnow()}))

    async def write_secrets(self, writes: dict[str, str | None]) -> None:
        """Store each named secret sealed; ``None`` deletes it."""
        for name, value in writes.items():
            if value is None:
                await self.db.exec(delete(TaskUserSecretRow).where(TaskUserSecretRow.user_id == self.user_id,
                                                                   TaskUserSecretRow.name == name))
                continue
            sealed, now = self.box.seal_value(value), utcnow()
            statement = insert(TaskUserSecretRow).values(user_id=self.user_id, name=name, sealed_value=sealed,
                                                         changed_at=now)
            await self.db.exec(statement.on_conflict_do_update(index_elements=["user_id", "name"],
                                                               set_={"sealed_value": sealed, "changed_at": now}))

    async def fly_token(self) -> str | None:
        return await self.secret(FLY_TOKEN)


async def complete_onboarding(store: UserConfigStore, repositories: list[dict[str, Any]]) -> bool:
    """After an installed sign-in: select every installation repository and keep (or default) the enabled
    agents, unless onboarding is already completed. Whether it changed anything."""
    stored = await store.stored() or {}
    onboarding = stored.get("onboarding") if isinstance(stored.get("onboarding"), dict) else {}
    if onboarding.get("completed") is True:
        return False
    selected = [{"id": repo["id"], "fullName": repo["fullName"], "owner": repo["owner"], "name": repo["name"],
                 "private": bool(repo.get("private"))} for repo in repositories if isinstance(repo.get("id"), int)]
    enabled = onboarding.get("enabledAgents") or list(DEFAULT_ENABLED_AGENTS)
    await store.save_config({**stored, "onboarding": {**onboarding, "completed": True, "selectedRepos": selected,
                                                      "enabledAgents": enabled}})
    return True
