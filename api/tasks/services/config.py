"""A user's task config in Postgres: the config without secrets (``task_user_configs``) and each secret
sealed apart (``task_user_secrets``). Secrets are opened only to be used (the Fly and Anthropic checks);
answers carry only ``secretStatus`` (``models.tasks.config_views``)."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import datetime
from typing import Any

from sqlalchemy import delete
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import BadGateway, BadRequest, ServiceUnavailable
from capstan.secrets import SecretBox, SecretsUnreadable
from capstan.settings import Settings
from integrations.providers import validate_anthropic
from integrations.runners.fly import validate_fly
from integrations.stores.task_users import secret_changes, stored_config
from models.common.base import utcnow
from models.tasks.agents import BUILTIN_AGENTS, AgentSpec, agent_catalog
from models.tasks.config import DEFAULT_ENABLED_AGENTS, FLY_TOKEN, SelectedRepo, SetupMode
from models.tasks.config_views import (
    AnthropicValidation,
    FlySetupPublic,
    FlyValidation,
    SecretStatus,
    TasksConfigPublic,
    public_config,
    secret_status,
)
from models.tasks.github_views import GitHubRepository
from models.tasks.tables import TaskUserConfigRow, TaskUserSecretRow

ANTHROPIC_SECRET = "anthropic.ANTHROPIC_API_KEY"


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

    async def status(self, config: dict[str, Any] | None = None) -> SecretStatus:
        config = config if config is not None else await self.config()
        return secret_status(await self.secret_times(), config.get("flyAppName"))

    async def public(self, settings: Settings) -> TasksConfigPublic:
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

    async def commit(self) -> None:
        """Commit what was written; a store that fails is ``503 config_store_failed``."""
        try:
            await self.db.commit()
        except SQLAlchemyError:
            await self.db.rollback()
            raise ServiceUnavailable("the config could not be stored; try again",
                                     code="config_store_failed") from None

    async def fly_token(self) -> str | None:
        return await self.secret(FLY_TOKEN)


async def _opened(value: Awaitable[str | None]) -> str | None:
    """An awaited secret; one the secrets key cannot open counts as not set."""
    try:
        return await value
    except SecretsUnreadable:
        return None


async def save_fly_setup(store: UserConfigStore, settings: Settings, fly: dict[str, Any]) -> FlySetupPublic:
    """``PUT /api/config/fly`` (``fly`` as ``models.tasks.config.fly_put`` reads it): a blank token keeps the
    stored one; with ``validate``, nothing is saved unless Fly's check is ``ok`` (its app name wins)."""
    stored = await store.stored() or {}
    config = await store.config()
    token = fly["flyToken"] or await _opened(store.fly_token())
    app = fly["flyAppName"] if fly["flyAppName"] is not None else config.get("flyAppName") or ""
    mode: SetupMode = fly["setupMode"]
    if fly["validate"]:
        validation = FlyValidation.model_validate(
            await validate_fly(settings.tasks.fly_api_url, token, app or None, mode,
                               timeout=settings.tasks.provider_timeout_seconds))
        if not validation.ok:
            return FlySetupPublic(flyToken="", flyAppName=app, validation=validation, setupMode=mode)
        app = validation.flyAppName or app
    else:
        validation = FlyValidation(ok=True, status="ready", message="Fly settings saved.", appCreated=False,
                                   flyAppName=app, mode=mode)
    await store.save_config({**stored, "flyAppName": app})
    if fly["flyToken"]:
        await store.write_secrets({FLY_TOKEN: fly["flyToken"]})
    await store.commit()
    return FlySetupPublic(flyToken="", flyAppName=app, validation=validation, setupMode=mode)


async def check_fly_setup(store: UserConfigStore, settings: Settings, mode: SetupMode) -> FlyValidation:
    """Fly's check of the stored token and app; an app it resolved (or created) is saved to the config."""
    token = await _opened(store.fly_token())
    app = (await store.config()).get("flyAppName") or None
    validation = FlyValidation.model_validate(
        await validate_fly(settings.tasks.fly_api_url, token, app, mode,
                           timeout=settings.tasks.provider_timeout_seconds))
    if validation.ok and validation.flyAppName and validation.flyAppName != app:
        await store.save_config({**(await store.stored() or {}), "flyAppName": validation.flyAppName})
        await store.commit()
    return validation


async def check_anthropic_key(store: UserConfigStore, settings: Settings) -> AnthropicValidation:
    """Anthropic's answer about the stored key: ``ready`` or ``invalid``; none stored is ``400 missing``, no
    clear answer ``502 error`` (the key is never echoed)."""
    key = await _opened(store.secret(ANTHROPIC_SECRET))
    if not key:
        raise BadRequest("no Anthropic API key is stored: set credentials.anthropic first", code="missing",
                         extra={"ok": False, "status": "missing"})
    result = await validate_anthropic(settings.tasks.anthropic_api_url, key,
                                      timeout=settings.tasks.provider_timeout_seconds)
    if result.get("status") not in ("ready", "invalid"):
        message = str(result.get("message") or "Anthropic did not answer the key check")
        raise BadGateway(message, code="error", extra=dict(result))
    return AnthropicValidation.model_validate(result)


async def complete_onboarding(store: UserConfigStore, repositories: list[GitHubRepository]) -> bool:
    """After an installed sign-in: select every installation repository and keep (or default) the enabled
    agents, unless onboarding is already completed. Whether it changed anything."""
    stored = await store.stored() or {}
    onboarding = stored.get("onboarding") if isinstance(stored.get("onboarding"), dict) else {}
    if onboarding.get("completed") is True:
        return False
    selected = [SelectedRepo(id=repo.id, fullName=repo.fullName, owner=repo.owner, name=repo.name or "",
                             private=repo.private).model_dump() for repo in repositories]
    enabled = onboarding.get("enabledAgents") or list(DEFAULT_ENABLED_AGENTS)
    await store.save_config({**stored, "onboarding": {**onboarding, "completed": True, "selectedRepos": selected,
                                                      "enabledAgents": enabled}})
    return True
