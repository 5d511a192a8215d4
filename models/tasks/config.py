"""A user's task config: its shape and defaults, the secrets split out of it, and how a body is read.

Secrets (``flyToken``, ``credentials.*``, ``providerCredentials.*.*``) are stored apart, sealed, as
``task_user_secrets`` named ``flyToken`` or ``<provider>.<ENV_KEY>``; ``credentials.anthropic`` is the
same secret as ``anthropic.ANTHROPIC_API_KEY`` (openai, amp alike). They are never shown: what the config
routes answer (``models.tasks.config_views``) has them empty, with ``secretStatus`` saying which are set.

The section models serve both ways: a ``PUT`` body is read with them strictly (``"3"`` is not a number), and
the answer shows the stored config through them, leniently (it was checked when it was stored).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.tasks.agents import REQUIREMENT_SECRETS

FLY_TOKEN = "flyToken"
SECRET_FIELDS = ("flyToken", "credentials", "providerCredentials")
PROVIDER_ID = re.compile(r"^[a-z0-9-]+$")
ENV_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
PROVIDER_SECRET = re.compile(r"^([a-z0-9-]+)\.([A-Z][A-Z0-9_]*)$")
DEFAULT_ENABLED_AGENTS = ["opencode", "claude-code"]
ExecutionMode = Literal["cloud", "priority"]
SetupMode = Literal["org", "deploy"]

DEFAULT_CONFIG: dict[str, Any] = {
    "version": "1.0.0",
    "executionMode": "cloud",
    "flyToken": "",
    "flyAppName": "",
    "agents": {
        "opencode": {"enabled": True, "priority": 1},
        "claude-code": {"enabled": True, "priority": 2},
        "amp": {"enabled": False, "priority": 3},
    },
    "credentials": {},
    "providerCredentials": {},
    "settings": {"maxRetries": 3, "taskTimeout": 90, "pollInterval": 10},
    "onboarding": {"completed": False, "selectedRepos": [], "enabledAgents": DEFAULT_ENABLED_AGENTS},
}
_SECTIONS = ("agents", "settings", "onboarding")


def _unset(value: object) -> bool:
    return value is None


class _Section(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AgentSettings(_Section):
    enabled: bool = True
    #: Absent (not null) in an answer when the user gave none.
    priority: int | None = Field(None, exclude_if=_unset)
    customPrompt: str | None = Field(None, exclude_if=_unset)


class RunSettings(_Section):
    maxRetries: int = Field(3, ge=0)
    taskTimeout: int = Field(90, ge=1)
    pollInterval: int = Field(10, ge=1)


class SelectedRepo(_Section):
    # In the order Postgres' jsonb keeps an object's keys (shorter first), the order the stored config is read in.
    id: int
    name: str
    owner: str
    private: bool = False
    fullName: str


class OnboardingConfig(_Section):
    completed: bool = False
    selectedRepos: list[SelectedRepo] = []
    enabledAgents: list[str] = DEFAULT_ENABLED_AGENTS


class CredentialsBody(_Section):
    anthropic: str | None = None
    openai: str | None = None
    amp: str | None = None


class ConfigBody(_Section):
    """``PUT /api/config``: the whole config; empty or missing secrets keep what is stored."""

    version: str = "1.0.0"
    executionMode: ExecutionMode = "cloud"
    flyToken: str | None = None
    flyAppName: str = ""
    agents: dict[str, AgentSettings] = {}
    credentials: CredentialsBody = CredentialsBody()
    providerCredentials: dict[str, dict[str, str | None]] = {}
    settings: RunSettings = RunSettings()
    onboarding: OnboardingConfig = OnboardingConfig()


def _validated(model: type[BaseModel], body: Any) -> Any:
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    try:
        return model.model_validate(body, strict=True)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "body"
        raise ValueError(f"{where}: {first['msg']}") from None


def effective_config(stored: Mapping[str, Any] | None) -> dict[str, Any]:
    """A stored config over the defaults (its sections merged key by key)."""
    config = copy.deepcopy(DEFAULT_CONFIG)
    for key, value in (stored or {}).items():
        if key in _SECTIONS:
            if isinstance(value, dict):
                config[key] = {**config[key], **copy.deepcopy(value)}
        elif key in config and key not in SECRET_FIELDS:
            config[key] = copy.deepcopy(value)
    return config


SECRET_MAX_LENGTH = 4096
_SECRET_TEXT = re.compile(r"^[\x21-\x7e]+$")


def _secret_value(value: str | None) -> str | None:
    """A submitted secret: ``None`` when empty (kept or cleared, by route), else the value without surrounding
    whitespace. Keys and tokens travel in HTTP headers and environments: printable ASCII without spaces,
    else ``ValueError`` (never quoting the value)."""
    if not isinstance(value, str) or not value.strip():
        return None
    value = value.strip()
    if len(value) > SECRET_MAX_LENGTH or not _SECRET_TEXT.match(value):
        raise ValueError(f"a key or token must be printable ASCII without spaces, at most {SECRET_MAX_LENGTH} "
                         "characters")
    return value


def _provider_secret_name(provider: str, key: str) -> str:
    if not PROVIDER_ID.match(provider):
        raise ValueError(f"provider {provider!r} must match [a-z0-9-]+")
    if not ENV_KEY.match(key):
        raise ValueError(f"{provider}: key {key!r} must match [A-Z][A-Z0-9_]*")
    return f"{provider}.{key}"


def split_config_put(body: Any) -> tuple[dict[str, Any], dict[str, str | None]]:
    """``PUT /api/config``: (the config to store, without secrets; the secrets to store by name).

    Wrong types raise ``ValueError``; unknown fields are dropped; empty or missing secrets are not written,
    so what is stored stays.
    """
    parsed: ConfigBody = _validated(ConfigBody, body)
    writes: dict[str, str | None] = {}
    if token := _secret_value(parsed.flyToken):
        writes[FLY_TOKEN] = token
    for provider, secret_name in REQUIREMENT_SECRETS.items():
        if value := _secret_value(getattr(parsed.credentials, provider)):
            writes[secret_name] = value
    for provider, keys in parsed.providerCredentials.items():
        for key, value in keys.items():
            name = _provider_secret_name(provider, key)
            if secret := _secret_value(value):
                writes[name] = secret
    stored = parsed.model_dump(exclude=set(SECRET_FIELDS), exclude_none=True)
    # the name runs use in Fly's URLs: normalised as ``PUT /api/config/fly`` and the setup check do
    stored["flyAppName"] = normalise_fly_app_name(stored["flyAppName"])
    stored["agents"] = {**copy.deepcopy(DEFAULT_CONFIG["agents"]), **stored["agents"]}
    return stored, writes


def credentials_writes(body: Any) -> dict[str, str | None]:
    """``PUT /api/config/credentials`` ``{anthropic?, openai?, amp?}``: the secrets to write; ``""`` clears (None)."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    writes: dict[str, str | None] = {}
    for provider, secret_name in REQUIREMENT_SECRETS.items():
        if provider in body:
            if not isinstance(body[provider], str):
                raise ValueError(f"{provider} must be a string (\"\" clears it)")
            writes[secret_name] = _secret_value(body[provider])
    return writes


def provider_writes(body: Any) -> dict[str, str | None]:
    """``PUT /api/config/provider-credentials`` ``{<provider>: {<ENV_KEY>: value}}``; ``""`` deletes (None)."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    writes: dict[str, str | None] = {}
    for provider, keys in body.items():
        if not isinstance(keys, dict):
            raise ValueError(f"{provider} must be an object of {{ENV_KEY: value}}")
        for key, value in keys.items():
            name = _provider_secret_name(provider, key)
            if not isinstance(value, str):
                raise ValueError(f"{name} must be a string (\"\" deletes it)")
            writes[name] = _secret_value(value)
    return writes


def fly_put(body: Any) -> dict[str, Any]:
    """``PUT /api/config/fly`` ``{flyToken?, flyAppName?, validate?, setupMode?}`` checked: the token (None =
    keep the stored one), the app name (None = keep; normalised), ``validate`` and ``setupMode``."""
    if not isinstance(body, dict):
        raise ValueError("the body must be a JSON object")
    for name in ("flyToken", "flyAppName"):
        if body.get(name) is not None and not isinstance(body[name], str):
            raise ValueError(f"{name} must be a string")
    if not isinstance(body.get("validate", False), bool):
        raise ValueError("validate must be true or false")
    mode = body.get("setupMode", "org")
    if mode not in ("org", "deploy"):
        raise ValueError("setupMode must be org or deploy")
    app = body.get("flyAppName")
    return {"flyToken": _secret_value(body.get("flyToken")),
            "flyAppName": normalise_fly_app_name(app) if isinstance(app, str) else None,
            "validate": body.get("validate", False), "setupMode": mode}


def is_repo_selected(config: Mapping[str, Any], full_name: str, repo_id: int | None) -> bool:
    """Whether the user lets tasks run on a repository: everything until onboarding is completed, then only
    ``onboarding.selectedRepos`` (by ``owner/name``, case-insensitive, or by id)."""
    onboarding = effective_config(config)["onboarding"]
    if onboarding.get("completed") is not True:
        return True
    for repo in onboarding.get("selectedRepos") or []:
        if not isinstance(repo, dict):
            continue
        if str(repo.get("fullName", "")).lower() == full_name.lower():
            return True
        if repo_id is not None and repo.get("id") == repo_id:
            return True
    return False


def normalise_fly_app_name(name: str) -> str:
    """Lowercase, ``[^a-z0-9-]`` → ``-``, dashes collapsed and trimmed, at most 63 characters."""
    dashed = re.sub(r"-+", "-", re.sub(r"[^a-z0-9-]", "-", name.strip().lower())).strip("-")
    return dashed[:63].rstrip("-")
