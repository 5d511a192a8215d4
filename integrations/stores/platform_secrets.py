"""Reading a sealed platform or workspace secret, for whoever uses it: the API's configuration routes write
them (``api.platform_v1.services.configuration``), an activity reads the one it needs by key (the agent
call's Bearer token) and opens it only for the request it sends."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from capstan.secrets import SecretBox
from models.platform_v1.tables import SecretRow

PLATFORM_SCOPE = "platform"
WORKSPACE_SCOPE_PREFIX = "workspace:"


def workspace_secret_scope(workspace_id: str) -> str:
    return f"{WORKSPACE_SCOPE_PREFIX}{workspace_id}"


async def read_workspace_secret(session: AsyncSession, box: SecretBox, workspace_id: str, key: str) -> str | None:
    """The opened value of the workspace's secret ``key``; ``None`` when it is not set."""
    sealed = (await session.exec(select(SecretRow.sealed_value).where(
        SecretRow.scope == workspace_secret_scope(workspace_id), SecretRow.key == key))).first()
    return box.open_value(sealed) if sealed is not None else None
