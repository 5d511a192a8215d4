"""What every settings class shares: the ``CAPSTAN_`` prefix, aliases for the original systems' names,
and reading a secret's value."""

from __future__ import annotations

from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def env_aliases(name: str, *legacy: str) -> AliasChoices:
    """``CAPSTAN_<name>`` first, then the names the original systems documented."""
    return AliasChoices(f"CAPSTAN_{name}", *legacy)


class SettingsBase(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CAPSTAN_", extra="ignore", populate_by_name=True)


def secret_value(secret: SecretStr | None) -> str | None:
    return secret.get_secret_value() if secret else None
