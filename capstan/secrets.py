"""Project secrets at rest: every value sealed with Fernet (AES-128-CBC + HMAC) before it
reaches Postgres, opened only where it is used (token checks, forge calls).

Keys stay readable, so "which secrets are set" needs no key. With no
``CAPSTAN_SECRETS_KEY`` values are stored as given and each process warns once;
``capstan dev`` creates a key in its data dir.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken

from capstan.settings import Settings
from models.common.settings import secret_value

log = logging.getLogger(__name__)

PREFIX = "fernet:v1:"


class SecretsUnreadable(RuntimeError):
    """A sealed value that this key cannot open (the key changed)."""


class SecretBox:
    def __init__(self, key: str | None) -> None:
        self._fernet = Fernet(key.encode()) if key else None
        if self._fernet is None:
            log.warning("CAPSTAN_SECRETS_KEY is not set: project secrets are stored unencrypted")

    @property
    def encrypts(self) -> bool:
        """Whether values are sealed (a key is set); without one they are stored as given."""
        return self._fernet is not None

    @staticmethod
    def generate_key() -> str:
        return Fernet.generate_key().decode()

    def seal(self, secrets: dict[str, Any] | None) -> dict[str, Any] | None:
        if secrets is None or self._fernet is None:
            return secrets
        return {name: PREFIX + self._fernet.encrypt(json.dumps(value).encode()).decode()
                for name, value in secrets.items()}

    def seal_value(self, value: str) -> str:
        """One value, sealed as a string (user secrets, OAuth tokens)."""
        return self.seal({"value": value})["value"]

    def open_value(self, sealed: str) -> str:
        return self.open({"value": sealed})["value"]

    def open(self, secrets: dict[str, Any] | None) -> dict[str, Any]:
        opened: dict[str, Any] = {}
        for name, value in (secrets or {}).items():
            if isinstance(value, str) and value.startswith(PREFIX):
                if self._fernet is None:
                    raise SecretsUnreadable(f"secret {name!r} is encrypted but CAPSTAN_SECRETS_KEY is not set")
                try:
                    value = json.loads(self._fernet.decrypt(value[len(PREFIX):].encode()))
                except InvalidToken:
                    raise SecretsUnreadable(f"secret {name!r} cannot be opened with this key") from None
            opened[name] = value
        return opened


def derived_secret(explicit: str | None, secrets_key: str | None, purpose: str) -> str | None:
    """``explicit`` when set, else a key for ``purpose`` derived from the secrets key (HMAC-SHA256), so
    one configured key gives every process the same callback and session keys; ``None`` when neither is set."""
    if explicit:
        return explicit
    if not secrets_key:
        return None
    return hmac.new(secrets_key.encode(), f"capstan:{purpose}".encode(), hashlib.sha256).hexdigest()


def tasks_callback_secret(settings: Settings) -> str | None:
    """The key of the coding tasks' callback tokens (the API checks them, the worker hands them out)."""
    return derived_secret(secret_value(settings.tasks.callback_secret), secret_value(settings.secrets.key),
                          "tasks-callback")


def tasks_session_secret(settings: Settings) -> str | None:
    """The key signing the coding-tasks surface's session cookies."""
    return derived_secret(secret_value(settings.tasks.session_secret), secret_value(settings.secrets.key),
                          "tasks-session")
