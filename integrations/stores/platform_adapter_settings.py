"""The one reader of a workspace's accounting adapter setting (``integrations.accounting``), defensive about
what the settings hold: the API refuses a sync without it (``adapter_not_configured``) and the sync's
activity reads it again for the call (never through the workflow's history)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from integrations.accounting import usable_base_url
from models.platform_v1.tables import SettingsRow

DEFAULT_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True)
class AccountingAdapter:
    base_url: str
    timeout_seconds: float


def accounting_adapter_of(workspace_settings: Any) -> AccountingAdapter | None:
    """The adapter a workspace's settings configure, or ``None`` (absent, or not a usable http(s) URL).
    ``timeoutSeconds`` outside 1–60 falls back to the default."""
    integrations = workspace_settings.get("integrations") if isinstance(workspace_settings, dict) else None
    adapter = integrations.get("accounting") if isinstance(integrations, dict) else None
    if not isinstance(adapter, dict):
        return None
    base_url = usable_base_url(adapter.get("baseUrl"))
    if base_url is None:
        return None
    timeout = adapter.get("timeoutSeconds", DEFAULT_TIMEOUT_SECONDS)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not 1 <= timeout <= 60:
        timeout = DEFAULT_TIMEOUT_SECONDS
    return AccountingAdapter(base_url=base_url, timeout_seconds=float(timeout))


async def accounting_adapter(session: AsyncSession, workspace_id: str) -> AccountingAdapter | None:
    row = await session.get(SettingsRow, f"workspace:{workspace_id}")
    return accounting_adapter_of(row.settings if row is not None else None)
