"""The maintenance surface's settings: feed sources, the workspace backend, its admin token.

Composed with the process settings in ``capstan.settings.Settings``; every field is listed in docs/settings.md."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, field_validator

from models.common.settings import SettingsBase, env_aliases

#: ``CAPSTAN_FEED_MAX_BYTES``'s default: 8 MiB, room for the npm document of a package with a few thousand versions.
DEFAULT_FEED_MAX_BYTES = 8 * 1024 * 1024


class PatchSettings(SettingsBase):
    """The maintenance surface: update triggers from feeds, workspace dispatches, maintenance attempts."""

    admin_token: SecretStr | None = Field(
        None, validation_alias=env_aliases("PATCH_ADMIN_TOKEN", "PATCH_ADMIN_TOKEN"),
        description="Admin token of the maintenance API (`Authorization: Bearer` or `X-Patch-Admin-Token`). "
                    "Unset means those routes are open.")
    feed_sources_path: Path | None = Field(
        None, validation_alias=env_aliases("FEED_SOURCES_PATH", "FEED_SOURCES_PATH"),
        description="JSON file `{\"sources\": [...]}` of the feed sources polled for update triggers; each becomes "
                    "a Temporal Schedule when a worker starts. Unset = no sources.")
    workspace_backend_url: str | None = Field(
        None, validation_alias=env_aliases("WORKSPACE_BACKEND_URL", "PATCH_WORKSPACE_BACKEND_URL",
                                        "PATCH_FLOW_BACKEND_URL", "PATCH_FLOW_DISPATCH_URL"),
        description="Base URL of an HTTP workspace backend (`http(s)://`). Unset = the built-in backend "
                    "(runs are Capstan workflows).")
    workspace_backend_secret: SecretStr | None = Field(
        None, validation_alias=env_aliases("WORKSPACE_BACKEND_SECRET", "PATCH_WORKSPACE_BACKEND_SECRET",
                                        "PATCH_FLOW_DISPATCH_SECRET"),
        description="HMAC secret signing request bodies sent to the HTTP workspace backend "
                    "(`x-flow-signature-256`).")
    workspace_backend_timeout_seconds: float = Field(
        15.0, validation_alias=env_aliases("WORKSPACE_BACKEND_TIMEOUT"), gt=0,
        description="Timeout of one call to the HTTP workspace backend.")
    feed_timeout_seconds: float = Field(
        20.0, validation_alias=env_aliases("FEED_TIMEOUT"), gt=0,
        description="Longest one feed read may take in all: the HTTP fetch (its redirects and whole body) or "
                    "`git ls-remote`.")
    feed_max_bytes: int = Field(
        DEFAULT_FEED_MAX_BYTES, validation_alias=env_aliases("FEED_MAX_BYTES"), gt=0,
        description="Largest feed document a poll reads (bytes, after decompression); a bigger one stops the read "
                    "and the poll records an error naming this setting.")
    check_timeout_seconds: float = Field(
        1800.0, validation_alias=env_aliases("PATCH_CHECK_TIMEOUT"), gt=0,
        description="Longest a patch-stack-rebase `checkCommand` may run.")

    @field_validator("workspace_backend_url")
    @classmethod
    def _http_only(cls, url: str | None) -> str | None:
        if url is None or not url.strip():
            return None
        if not url.startswith(("http://", "https://")):
            raise ValueError("the workspace backend URL must be http:// or https:// (the WebSocket transport, "
                             "ws://, is not supported)")
        return url.strip()
