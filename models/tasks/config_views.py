"""What the config routes answer (``/api/config*``): the config with every secret field empty, which secrets are
set and when they changed (never a value), the Fly and Anthropic checks, and the model providers.

Fields documented as optional (``flyAppName?``, ``message?``, ``doc?``) are absent from an answer when unknown,
never ``null``: ``exclude_if`` drops them, and ``SkipJsonSchema`` keeps ``null`` out of the documented type.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, RootModel
from pydantic.json_schema import SkipJsonSchema

from models.tasks.agents import BUILTIN_AGENTS, PROVIDER_NAMES, REQUIREMENT_SECRETS, AgentSpec, blocked_reason
from models.tasks.config import (
    FLY_TOKEN,
    PROVIDER_SECRET,
    AgentSettings,
    ExecutionMode,
    OnboardingConfig,
    RunSettings,
    SetupMode,
    effective_config,
)
from models.tasks.views import iso

ConfiguredState = Literal["configured", "not_configured"]
#: A time as JavaScript's ``toISOString`` writes it: ``2026-05-13T10:00:00.000Z``.
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"})]


def _unset(value: object) -> bool:
    return value is None


class ProviderCredentialStatus(RootModel[dict[str, dict[str, Literal["configured"]]]]):
    """``{<provider>: {<ENV_KEY>: "configured"}}``: the provider keys stored, never their values."""


class LegacyCredentialStatus(BaseModel):
    """The ``credentials.*`` keys (the same secrets as ``<provider>.<ENV_KEY>``), in ``REQUIREMENT_SECRETS`` order."""

    anthropic: ConfiguredState
    amp: ConfiguredState
    openai: ConfiguredState


class SecretStatus(BaseModel):
    """Which secrets are stored and when each changed; never a value."""

    providerCredentials: ProviderCredentialStatus
    legacy: LegacyCredentialStatus
    flyToken: ConfiguredState
    flyAppName: ConfiguredState
    changedAt: dict[str, Timestamp] = Field(description="`<provider>.<ENV_KEY>` or `flyToken` → when it last changed.")

    def configured_names(self) -> set[str]:
        """The names of the stored secrets (``<provider>.<ENV_KEY>``, ``flyToken``)."""
        names = {f"{provider}.{key}" for provider, keys in self.providerCredentials.root.items() for key in keys}
        return names | ({FLY_TOKEN} if self.flyToken == "configured" else set())


class TasksConfigPublic(BaseModel):
    """``GET /api/config``: the stored config over the defaults, every secret field empty, with ``secretStatus``
    and ``warnings``. Put back as it is, it changes nothing (empty secrets keep what is stored)."""

    version: str
    executionMode: ExecutionMode
    flyToken: Literal[""] = Field(description="Always empty: see `secretStatus.flyToken`.")
    flyAppName: str
    agents: dict[str, AgentSettings]
    credentials: dict[str, str] = Field(description="Always `{}`: see `secretStatus.legacy`.")
    providerCredentials: dict[str, dict[str, str]] = Field(
        description="Always `{}`: see `secretStatus.providerCredentials`.")
    settings: RunSettings
    onboarding: OnboardingConfig
    secretStatus: SecretStatus
    warnings: list[str] = Field(description="What keeps an enabled agent from running (its missing credentials).")


class CredentialsSaved(BaseModel):
    """``PUT /api/config/credentials``."""

    ok: Literal[True]
    secretStatus: SecretStatus


FlyStatus = Literal["ready", "missing_token", "missing_app_name", "invalid_token", "insufficient_scope",
                    "app_not_found", "name_conflict", "error"]


class FlyValidation(BaseModel):
    """The Fly setup check (``POST /api/config/validate/fly``, and ``validation`` of ``PUT /api/config/fly``)."""

    ok: bool
    status: FlyStatus
    message: str
    appCreated: bool
    mode: SetupMode
    flyAppName: str | SkipJsonSchema[None] = Field(None, exclude_if=_unset,
                                                   description="The app checked or created; absent when none is known.")


class FlySetupPublic(BaseModel):
    """``PUT /api/config/fly``: what is stored now (the token never shown) and the check."""

    flyToken: Literal[""] = Field(description="Always empty: the token is never shown.")
    flyAppName: str
    validation: FlyValidation
    setupMode: SetupMode


class AnthropicValidation(BaseModel):
    """``POST /api/config/validate/anthropic``'s 200: Anthropic accepted the stored key (``ready``) or refused it."""

    ok: bool
    status: Literal["ready", "invalid"]
    message: str | SkipJsonSchema[None] = Field(None, exclude_if=_unset, description="Why the key is `invalid`.")


class ModelProvider(BaseModel):
    id: str
    name: str
    env: list[str] = Field(description="The environment keys the provider's agents read.")
    domain: str
    doc: str | SkipJsonSchema[None] = Field(None, exclude_if=_unset)


class ModelProviders(BaseModel):
    """``GET /api/config/providers``."""

    featured: list[ModelProvider]
    all: list[ModelProvider]
    featuredIds: list[str]


def secret_status(secrets: Mapping[str, datetime], fly_app_name: str | None) -> SecretStatus:
    """Which secrets are set and when each changed; never their values."""
    providers: dict[str, dict[str, Literal["configured"]]] = {}
    for name in sorted(secrets):
        if match := PROVIDER_SECRET.match(name):
            providers.setdefault(match.group(1), {})[match.group(2)] = "configured"

    def said(present: bool) -> ConfiguredState:
        return "configured" if present else "not_configured"

    return SecretStatus(
        providerCredentials=ProviderCredentialStatus(providers),
        legacy=LegacyCredentialStatus(**{provider: said(name in secrets)
                                         for provider, name in REQUIREMENT_SECRETS.items()}),
        flyToken=said(FLY_TOKEN in secrets),
        flyAppName=said(bool(fly_app_name and fly_app_name.strip())),
        changedAt={name: iso(secrets[name]) for name in sorted(secrets)},
    )


def config_warnings(config: Mapping[str, Any], status: SecretStatus,
                    catalog: Mapping[str, AgentSpec] = BUILTIN_AGENTS) -> list[str]:
    """What keeps an enabled agent from running (its missing credentials)."""
    names = status.configured_names()
    warnings = []
    for agent, entry in config["agents"].items():
        if isinstance(entry, dict) and entry.get("enabled") is True and agent in catalog:
            reason = blocked_reason(agent, catalog, config, names)
            if reason:
                warnings.append(f"{agent}: {reason.removeprefix('Task blocked: ')}")
    return warnings


def public_config(config: Mapping[str, Any] | None, status: SecretStatus,
                  catalog: Mapping[str, AgentSpec] = BUILTIN_AGENTS) -> TasksConfigPublic:
    """``GET /api/config``: the config with every secret field empty, plus ``secretStatus`` and ``warnings``."""
    shown = effective_config(config)
    shown.update(flyToken="", credentials={}, providerCredentials={})
    warnings = config_warnings(shown, status, catalog)
    return TasksConfigPublic.model_validate({**shown, "secretStatus": status, "warnings": warnings})


def _provider(id: str, env: list[str], domain: str, doc: str | None = None) -> dict[str, Any]:
    return {"id": id, "name": PROVIDER_NAMES.get(id, id), "env": env, "domain": domain, "doc": doc}


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


def providers_answer() -> ModelProviders:
    """``GET /api/config/providers`` (built afresh: a caller may change its answer)."""
    by_id = {provider["id"]: provider for provider in PROVIDERS}
    return ModelProviders(featured=[ModelProvider.model_validate(by_id[id]) for id in FEATURED_PROVIDER_IDS],
                          all=[ModelProvider.model_validate(provider) for provider in PROVIDERS],
                          featuredIds=list(FEATURED_PROVIDER_IDS))
