"""The accounting sync's reader of a workspace's accounting adapter setting (``integrations.accounting``, typed
by ``models.platform_v1.workspace_settings``): the API refuses a sync without it (``adapter_not_configured``)
and the sync's activity reads it again for the call (never through the workflow's history)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from models.platform_v1.tables import SettingsRow
from models.platform_v1.workspace_settings import accounting_adapter as typed_accounting_adapter


@dataclass(frozen=True)
class AccountingAdapter:
    base_url: str
    timeout_seconds: float


def accounting_adapter_of(workspace_settings: Any) -> AccountingAdapter | None:
    """The adapter a workspace's settings configure, or ``None`` (absent, or a stored value the settings'
    validation would refuse: ``models.platform_v1.workspace_settings``)."""
    adapter = typed_accounting_adapter(workspace_settings if isinstance(workspace_settings, dict) else {})
    if adapter is None:
        return None
    return AccountingAdapter(base_url=adapter.baseUrl, timeout_seconds=adapter.timeoutSeconds)


async def accounting_adapter(session: AsyncSession, workspace_id: str) -> AccountingAdapter | None:
    row = await session.get(SettingsRow, f"workspace:{workspace_id}")
    return accounting_adapter_of(row.settings if row is not None else None)
