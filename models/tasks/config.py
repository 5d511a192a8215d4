"""A user's task config: its shape and defaults, the secrets split out of it, and what of it is shown.

Secrets (``flyToken``, ``credentials.*``, ``providerCredentials.*.*``) are stored apart, sealed, as
``task_user_secrets`` named ``flyToken`` or ``<provider>.<ENV_KEY>``; ``credentials.anthropic`` is the
same secret as ``anthropic.ANTHROPIC_API_KEY`` (openai, amp alike). They are never shown: a GET has them
empty, with ``secretStatus`` saying which are set and when they changed.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from models.tasks.agents import BUILTIN_AGENTS, PROVIDER_NAMES, REQUIREMENT_SECRETS, AgentSpec, blocked_reason
from models.tasks.views import iso

FLY_TOKEN = "flyToken"
SECRET_FIELDS = ("flyToken", "credentials", "providerCredentials")
PROVIDER_ID = re.compile(r"^[a-z0-9-]+$")
ENV_KEY = re.compile(r"^[A-Z][A-Z0-9_]*$")
PROVIDER_SECRET = re.compile(r"^([a-z0-9-]+)\.([A-Z][A-Z0-9_]*)$")
DEFAULT_ENABLED_AGENTS = ["opencode", "claude-code"]

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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)


class AgentSettings(_Strict):
    enabled: bool = True
    priority: int | None = None
    customPrompt: str | None = None


class RunSettings(_Strict):
    maxRetries: int = Field(3, ge=0)
    taskTimeout: int = Field(90, ge=1)
    pollInterval: int = Field(10, ge=1)


class SelectedRepo(_Strict):
    id: int
    fullName: str
    owner: str
    name: str
    private: bool = False


class OnboardingConfig(_Strict):
    completed: bool = False
    selectedRepos: list[SelectedRepo] = []
    enabledAgents: list[str] = DEFAULT_ENABLED_AGENTS


class CredentialsBody(_Strict):
    anthropic: str | None = None
    openai: str | None = None
    amp: str | None = None


class ConfigBody(_Strict):
    """``PUT /api/config``: the whole config; empty or missing secrets keep what is stored."""

    version: str = "1.0.0"
    executionMode: Literal["cloud", "priority"] = "cloud"
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
        return model.model_validate(body)
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


def secret_status(secrets: Mapping[str, datetime], fly_app_name: str | None) -> dict[str, Any]:
    """Which secrets are set and when each changed; never their values."""
    providers: dict[str, dict[str, str]] = {}
    for name in sorted(secrets):
        if match := PROVIDER_SECRET.match(name):
            providers.setdefault(match.group(1), {})[match.group(2)] = "configured"

    def said(present: bool) -> str:
        return "configured" if present else "not_configured"

    return {
        "providerCredentials": providers,
        "legacy": {provider: said(name in secrets) for provider, name in REQUIREMENT_SECRETS.items()},
        "flyToken": said(FLY_TOKEN in secrets),
        "flyAppName": said(bool(fly_app_name and fly_app_name.strip())),
        "changedAt": {name: iso(secrets[name]) for name in sorted(secrets)},
    }


def _configured_names(status: Mapping[str, Any]) -> set[str]:
    names = {f"{provider}.{key}" for provider, keys in status.get("providerCredentials", {}).items() for key in keys}
    return names | ({FLY_TOKEN} if status.get("flyToken") == "configured" else set())


def config_warnings(config: Mapping[str, Any], status: Mapping[str, Any],
                    catalog: Mapping[str, AgentSpec] = BUILTIN_AGENTS) -> list[str]:
    """What keeps an enabled agent from running (its missing credentials)."""
    names = _configured_names(status)
    warnings = []
    for agent, entry in config["agents"].items():
        if isinstance(entry, dict) and entry.get("enabled") is True and agent in catalog:
            reason = blocked_reason(agent, catalog, config, names)
            if reason:
                warnings.append(f"{agent}: {reason.removeprefix('Task blocked: ')}")
    return warnings


def public_config(config: Mapping[str, Any] | None, status: Mapping[str, Any],
                  catalog: Mapping[str, AgentSpec] = BUILTIN_AGENTS) -> dict[str, Any]:
    """``GET /api/config``: the config with every secret field empty, plus ``secretStatus`` and ``warnings``."""
    shown = effective_config(config)
    shown.update(flyToken="", credentials={}, providerCredentials={})
    return {**shown, "secretStatus": dict(status), "warnings": config_warnings(shown, status, catalog)}


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


def _provider(id: str, env: list[str], domain: str, doc: str | None = None) -> dict[str, Any]:
    entry: dict[str, Any] = {"id": id, "name": PROVIDER_NAMES.get(id, id), "env": env, "domain": domain}
    return {**entry, "doc": doc} if doc else entry


FEATURED_PROVIDER_IDS = ["anthropic", "openai", "google", "openrouter", "amp", "xai", "groq", "deepseek", "zai",
                         "moonshotai"]
PROVIDERS: list[dict[str, Any]] = [
    _provider("anthropic", ["ANTHROPIC_API_KEY"], "anthropic.com", "https://docs.anthropic.com"),
    _provider("openai", ["OPENAI_API_KEY"], "openai.com", "https://platform.openai.com/docs"),
    _provider("google", ["GOOGLE_GENERATIVE_AI_API_KEY", "GEMINI_API_KEY"], "ai.google.dev",
              "https://ai.google.dev/gemini-api/docs"),
    _provider("openrouter", ["OPENROUTER_API_KEY"], "openrouter.ai", "https://openrouter.ai/docs"),
    _provider("amp", ["AMP_API_KEY"], "ampcode.com", "https://ampcode.com/manual"),
    _provider("xai", ["XAI_API_KEY"], "x.ai", "https://docs.x.ai"),
    _provider("groq", ["GROQ_API_KEY"], "groq.com", "https://console.groq.com/docs"),
    _provider("deepseek", ["DEEPSEEK_API_KEY"], "deepseek.com", "https://api-docs.deepseek.com"),
    _provider("zai", ["ZHIPU_API_KEY"], "z.ai", "https://docs.z.ai"),
    _provider("moonshotai", ["MOONSHOT_API_KEY"], "moonshot.ai", "https://platform.moonshot.ai/docs"),
    _provider("mistral", ["MISTRAL_API_KEY"], "mistral.ai", "https://docs.mistral.ai"),
    _provider("cerebras", ["CEREBRAS_API_KEY"], "cerebras.ai", "https://inference-docs.cerebras.ai"),
]


def providers_answer() -> dict[str, Any]:
    """``GET /api/config/providers``."""
    by_id = {provider["id"]: provider for provider in PROVIDERS}
    return {"featured": [copy.deepcopy(by_id[id]) for id in FEATURED_PROVIDER_IDS],
            "all": copy.deepcopy(PROVIDERS), "featuredIds": list(FEATURED_PROVIDER_IDS)}
