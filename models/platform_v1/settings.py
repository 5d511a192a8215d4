"""The platform API v1's settings: JWT authentication, idempotency and the event outbox's relay.

Composed with the process settings in ``capstan.settings.Settings``; every field is listed in docs/settings.md."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from models.common.settings import SettingsBase, env_aliases


class PlatformSettings(SettingsBase):
    """The platform API v1 (``/api/v1``): JWT authentication, tenancy, idempotency, agent executions and
    artifacts (``docs/api/platform-v1.md``)."""

    auth_mode: Literal["enabled", "disabled"] = Field(
        "enabled", validation_alias=env_aliases("AUTH_MODE", "AUTH_MODE"),
        description="`disabled`: every `/api/v1` request acts as a local principal with every role and every "
                    "workspace (development only; logged loudly at start).")
    jwt_secret: SecretStr | None = Field(
        None, validation_alias=env_aliases("JWT_SECRET", "JWT_SECRET"),
        description="HS256 key of the bearer JWTs (and of `capstan token`).")
    jwt_public_key: str | None = Field(
        None, validation_alias=env_aliases("JWT_PUBLIC_KEY", "JWT_PUBLIC_KEY"),
        description="PEM public key (RSA or EC) of RS256/ES256 bearer JWTs; literal `\\n` become newlines.")
    jwt_jwks_url: str | None = Field(
        None, validation_alias=env_aliases("JWT_JWKS_URL", "JWT_JWKS_URL"),
        description="JWKS URL of RS256/ES256 bearer JWTs (keys cached, fetched again for an unknown `kid`).")
    jwt_issuer: str | None = Field(None, validation_alias=env_aliases("JWT_ISSUER", "JWT_ISSUER"),
                                   description="Required `iss` of bearer JWTs; unset: not checked.")
    jwt_audience: str | None = Field(None, validation_alias=env_aliases("JWT_AUDIENCE", "JWT_AUDIENCE"),
                                     description="Required `aud` of bearer JWTs; unset: not checked.")
    jwt_leeway_seconds: float = Field(
        30.0, validation_alias=env_aliases("JWT_LEEWAY"), ge=0, le=600,
        description="Clock skew allowed on `exp`, `nbf` and `iat`.")
    jwks_cache_seconds: float = Field(
        300.0, validation_alias=env_aliases("JWKS_CACHE_SECONDS"), gt=0,
        description="How long fetched JWKS keys are kept before they are fetched again.")
    idempotency_ttl_hours: float = Field(
        24.0, validation_alias=env_aliases("IDEMPOTENCY_TTL_HOURS"), gt=0, le=24 * 30,
        description="How long an `Idempotency-Key` and its stored response are kept.")
    outbox_max_attempts: int = Field(
        5, validation_alias=env_aliases("OUTBOX_MAX_ATTEMPTS"), ge=1, le=100,
        description="Tries per event delivery (a notification POST) before it is `failed`; backoff 1 s, 2 s, 4 s, … "
                    "between them.")
    outbox_sweep_seconds: float = Field(
        2.0, validation_alias=env_aliases("OUTBOX_SWEEP_SECONDS"), ge=1, le=3600,
        description="Period of the outbox relay's sweep (`OutboxRelayWorkflow` on a Temporal Schedule); the API "
                    "also nudges it after each write that emitted an event.")
    agentfield_webhook_secret: SecretStr | None = Field(
        None, validation_alias=env_aliases("AGENTFIELD_WEBHOOK_SECRET", "AGENTFIELD_WEBHOOK_SECRET"),
        description="HMAC-SHA256 key of `POST /api/v1/webhooks/workflow-completed` (`x-agentfield-signature`). "
                    "Unset: the webhook answers 503, unless `CAPSTAN_AUTH_MODE=disabled` (then unsigned calls pass).")
    github_webhook_enabled: bool = Field(
        False, validation_alias=env_aliases("GITHUB_WEBHOOK_ENABLED", "GITHUB_WEBHOOK_ENABLED"),
        description="Serves `POST /api/v1/integrations/github/webhook`; `false`: it answers 404 to every request.")
    github_webhook_secret: SecretStr | None = Field(
        None, validation_alias=env_aliases("GITHUB_WEBHOOK_SECRET", "GITHUB_WEBHOOK_SECRET"),
        description="HMAC-SHA256 key of `POST /api/v1/integrations/github/webhook` (`x-hub-signature-256`). "
                    "Enabled without it: the webhook answers 503.")
    agent_stale_seconds: float = Field(
        90.0, validation_alias=env_aliases("AGENT_STALE_SECONDS"), gt=0, le=86400,
        description="An agent whose last heartbeat is older than this is `stale` (execute answers 503).")
    agent_call_max_attempts: int = Field(
        3, validation_alias=env_aliases("AGENT_CALL_MAX_ATTEMPTS"), ge=1, le=20,
        description="Tries per agent call on a connection error, 429 or 5xx, with backoff 1 s, 2 s, 4 s, ….")
    adapter_max_attempts: int = Field(
        3, validation_alias=env_aliases("ADAPTER_MAX_ATTEMPTS"), ge=1, le=20,
        description="Tries per accounting sync call on a connection error, timeout, 429 or 5xx, with backoff 1 s, "
                    "2 s, 4 s, ….")
    artifact_retention_days: float = Field(
        30.0, validation_alias=env_aliases("ARTIFACT_RETENTION_DAYS"), gt=0, le=36500,
        description="Artifacts older than this answer `410 gone`.")

    def public_key_pem(self) -> str | None:
        return self.jwt_public_key.replace("\\n", "\n") if self.jwt_public_key else None
