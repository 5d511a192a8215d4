"""The coding-tasks surface's settings: the webhook, runners, agents, the GitHub App and OAuth app.

Composed with the process settings in ``capstan.settings.Settings``; every field is listed in docs/settings.md."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import NoDecode

from models.common.settings import SettingsBase, env_aliases, secret_value


class TasksSettings(SettingsBase):
    """The coding-tasks surface: GitHub issue comments that start agent runs (``docs/api/tasks.md``)."""

    handle: str = Field("capstan", validation_alias=env_aliases("TASKS_HANDLE"), pattern=r"^[A-Za-z0-9][A-Za-z0-9-]*$",
                        description="The mention that starts a task (`@capstan`); also the branch prefix, the label "
                                    "prefix and the comment marker.")
    webhook_secret: SecretStr | None = Field(
        None, validation_alias=env_aliases("TASKS_WEBHOOK_SECRET", "WEBHOOK_SECRET"),
        description="HMAC key of `X-Hub-Signature-256` on `POST /api/webhooks/github`. Unset: that route "
                    "answers 503 (never accepts unsigned deliveries).")
    callback_secret: SecretStr | None = Field(
        None, validation_alias=env_aliases("TASKS_CALLBACK_SECRET", "CALLBACK_SECRET"),
        description="HMAC key of the per-execution callback tokens. Unset: derived from CAPSTAN_SECRETS_KEY.")
    session_secret: SecretStr | None = Field(
        None, validation_alias=env_aliases("SESSION_SECRET", "SESSION_SECRET"),
        description="Signs session cookies. Unset: derived from CAPSTAN_SECRETS_KEY.")
    allowlist: Annotated[list[str], NoDecode] = Field(
        [], validation_alias=env_aliases("TASKS_ALLOWLIST", "PORTER_PRODUCTION_ALLOWLIST"),
        description="Comma-separated GitHub logins allowed to start tasks by comment; empty = everyone.")
    callback_base_url: str | None = Field(
        None, validation_alias=env_aliases("TASKS_CALLBACK_BASE_URL", "PUBLIC_APP_URL", "APP_URL"),
        description="Base URL runners call back (`<base>/api/callbacks/complete`). Unset: CAPSTAN_API_PUBLIC_URL, "
                    "else `http://<CAPSTAN_API_HOST>:<CAPSTAN_API_PORT>`.")
    runner: Literal["local", "docker", "fly"] = Field(
        "local", validation_alias=env_aliases("TASKS_RUNNER"),
        description="Where agents run: `local` (a sandboxed process on the worker), `docker` (a container), "
                    "`fly` (a Fly Machine of the requesting user's Fly app).")
    agents: str | None = Field(
        None, validation_alias=env_aliases("TASKS_AGENTS"),
        description='JSON `{"<name>": "<command>"}` or `{"<name>": {"command": ..., "requires": [...]}}`: adds '
                    "agents or overrides the built-in commands.")
    watchdog_seconds: float = Field(
        1020.0, validation_alias=env_aliases("TASKS_WATCHDOG_SECONDS"), gt=0,
        description="How long a run may go without its completion callback before its runner is destroyed "
                    "and the task is `timed_out`.")
    workdir: Path | None = Field(
        None, validation_alias=env_aliases("TASKS_WORKDIR"),
        description="Where the local runner clones repositories; default `<git cache dir>/../tasks`.")
    worker_image: str = Field(
        "registry.fly.io/porter-worker:latest",
        validation_alias=env_aliases("TASKS_WORKER_IMAGE", "PORTER_WORKER_IMAGE"),
        description="Image of the docker and fly runners (it runs the runner contract of docs/api/tasks.md).")
    machine_cpus: int = Field(2, validation_alias=env_aliases("TASKS_MACHINE_CPUS", "PORTER_MACHINE_CPUS"), ge=1, le=64,
                              description="CPUs of a Fly Machine runner.")
    machine_memory_mb: int = Field(
        2048, validation_alias=env_aliases("TASKS_MACHINE_MEMORY_MB", "PORTER_MACHINE_MEMORY_MB"), ge=256, le=131072,
        description="Memory of a Fly Machine runner, in MB.")
    fly_api_url: str = Field("https://api.machines.dev/v1", validation_alias=env_aliases("FLY_API_URL"),
                             description="Fly Machines REST API base URL.")
    anthropic_api_url: str = Field("https://api.anthropic.com", validation_alias=env_aliases("ANTHROPIC_API_URL"),
                                   description="Anthropic API base URL (used to validate a stored key).")
    provider_timeout_seconds: float = Field(
        20.0, validation_alias=env_aliases("TASKS_PROVIDER_TIMEOUT"), gt=0,
        description="Timeout of one call to GitHub, Fly or a model provider from the tasks surface.")
    environment: str = Field("development", validation_alias=env_aliases("ENVIRONMENT", "NODE_ENV"),
                             description="`production` marks session cookies `Secure`.")

    @field_validator("allowlist", mode="before")
    @classmethod
    def _split_logins(cls, value: object) -> object:
        if isinstance(value, str):
            return [login.strip().lower() for login in value.split(",") if login.strip()]
        return value


class GitHubAppSettings(SettingsBase):
    """The GitHub App (installation tokens for task runs) and OAuth app (sign-in) of the tasks surface."""

    app_id: str | None = Field(None, validation_alias=env_aliases("GITHUB_APP_ID", "GITHUB_APP_ID"),
                               description="GitHub App id (the `iss` of the app JWT).")
    app_private_key: SecretStr | None = Field(
        None, validation_alias=env_aliases("GITHUB_APP_PRIVATE_KEY", "GITHUB_APP_PRIVATE_KEY"),
        description="The App's PEM private key (PKCS#1 or PKCS#8); literal `\\n` sequences become newlines.")
    app_slug: str | None = Field(None, validation_alias=env_aliases("GITHUB_APP_SLUG", "GITHUB_APP_SLUG"),
                                 description="App slug: install URL `<web>/apps/<slug>/installations/new`.")
    app_install_url: str | None = Field(
        None, validation_alias=env_aliases("GITHUB_APP_INSTALL_URL", "GITHUB_APP_INSTALL_URL",
                                        "PUBLIC_GITHUB_APP_INSTALL_URL"),
        description="Explicit App install URL (wins over the slug).")
    client_id: str | None = Field(None, validation_alias=env_aliases("GITHUB_CLIENT_ID", "GITHUB_CLIENT_ID"),
                                  description="OAuth app client id (sign-in).")
    client_secret: SecretStr | None = Field(
        None, validation_alias=env_aliases("GITHUB_CLIENT_SECRET", "GITHUB_CLIENT_SECRET"),
        description="OAuth app client secret.")
    oauth_redirect_uri: str | None = Field(
        None, validation_alias=env_aliases("GITHUB_OAUTH_REDIRECT_URI", "GITHUB_OAUTH_REDIRECT_URI"),
        description="OAuth redirect URI; default `<request origin>/api/auth/github/callback`.")
    web_url: str = Field("https://github.com", validation_alias=env_aliases("GITHUB_WEB_URL"),
                         description="GitHub web base URL (OAuth authorize and token exchange, install URLs).")

    def private_key_pem(self) -> str | None:
        key = secret_value(self.app_private_key)
        return key.replace("\\n", "\n") if key else None
