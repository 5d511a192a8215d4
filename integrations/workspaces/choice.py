"""Which workspace backend an event goes to (built-in, or an HTTP backend and its secret).

First non-empty: the source target's ``workspaceUrl``, ``dispatchUrl``, the environment variables
its ``workspaceUrlEnv`` and ``dispatchUrlEnv`` name, then ``CAPSTAN_WORKSPACE_BACKEND_URL`` (and its
``PATCH_*`` aliases). No URL means the built-in backend. The secret likewise: the variables named by
``workspaceSecretEnv``, ``dispatchSecretEnv``, then ``CAPSTAN_WORKSPACE_BACKEND_SECRET``. Secrets
are read here, in the process that sends, and never travel in a workflow's input or result.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field

from integrations.workspaces.http import HttpWorkspaceBackend
from models.common.settings import secret_value
from models.maintenance.feed_config import FeedSourceConfig
from models.maintenance.settings import PatchSettings


class BackendSettingsError(ValueError):
    """A source names a backend Capstan cannot speak to (a ``ws://`` URL, say)."""


@dataclass(frozen=True)
class BackendChoice:
    #: ``None``: the built-in backend.
    url: str | None
    secret: str | None = field(default=None, repr=False)

    @property
    def builtin(self) -> bool:
        return self.url is None


def _first(*values: str | None) -> str | None:
    return next((v.strip() for v in values if v and v.strip()), None)


def choose_backend(settings: PatchSettings, source: FeedSourceConfig | None,
                   env: Mapping[str, str] = os.environ) -> BackendChoice:
    target = source.target if source is not None else None

    def named(attribute: str) -> str | None:
        name = getattr(target, attribute, None) if target is not None else None
        return env.get(name) if name else None

    url = _first(getattr(target, "workspaceUrl", None), getattr(target, "dispatchUrl", None),
                 named("workspaceUrlEnv"), named("dispatchUrlEnv"), settings.workspace_backend_url)
    secret = _first(named("workspaceSecretEnv"), named("dispatchSecretEnv"),
                    secret_value(settings.workspace_backend_secret))
    if url is not None and not url.startswith(("http://", "https://")):
        source_name = f"feed source {source.id!r}" if source is not None else "the settings"
        raise BackendSettingsError(f"{source_name} names workspace backend {url.split('://')[0]}://…; only http:// "
                                   "and https:// backends are supported (the WebSocket transport is not)")
    return BackendChoice(url, secret)


def http_backend(choice: BackendChoice, settings: PatchSettings) -> HttpWorkspaceBackend:
    assert choice.url is not None
    return HttpWorkspaceBackend(choice.url, choice.secret, settings.workspace_backend_timeout_seconds)
