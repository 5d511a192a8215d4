"""What the operator checks of the tasks surface answer (``GET /api/startup/check``)."""

from __future__ import annotations

from pydantic import BaseModel, Field


class RequiredSettings(BaseModel):
    """Each setting the surface needs, by the original service's name: set (under its Capstan name or that one) or
    not. Never a value."""

    SESSION_SECRET: bool
    WEBHOOK_SECRET: bool
    CALLBACK_SECRET: bool
    GITHUB_CLIENT_ID: bool
    GITHUB_CLIENT_SECRET: bool
    GITHUB_APP_ID: bool
    GITHUB_APP_PRIVATE_KEY: bool
    CAPSTAN_SECRETS_KEY: bool

    def missing(self) -> list[str]:
        return [name for name, present in self if not present]


class DatabaseStatus(BaseModel):
    connected: bool
    migrated: bool = Field(description="At the latest migration.")
    error: str | None = Field(description="What is wrong, without the driver's message (it may name the host).")


class StartupCheck(BaseModel):
    """``ok`` when no setting is missing and the database is connected and at the latest migration."""

    ok: bool
    environment: RequiredSettings
    missingEnv: list[str]
    database: DatabaseStatus
