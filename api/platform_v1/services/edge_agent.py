"""The edge agent's policy: the defaults, overridden by the workspace's ``edgeAgent`` setting, versioned by the
workspace settings' version (its ETag)."""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from api.platform_v1.caller import Caller
from api.platform_v1.services.configuration import read_settings, workspace_scope
from models.platform_v1.edge_agent import INGEST_PATH, EdgeAgentPolicyPublic
from models.platform_v1.workspace_settings import edge_agent_policy


async def read_policy(db: AsyncSession, caller: Caller) -> EdgeAgentPolicyPublic:
    settings = await read_settings(db, workspace_scope(caller.tenant))
    policy = edge_agent_policy(settings.settings)
    return EdgeAgentPolicyPublic.model_construct(workspaceId=caller.tenant, version=settings.version,
                                                 **dict(policy), ingestPath=INGEST_PATH, enrollmentRequired=True)


def policy_etag(policy: EdgeAgentPolicyPublic) -> str:
    return f'"{policy.version}"'


def none_match(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names ``etag`` (or is ``*``): the weak comparison RFC 9110 (13.1.2) asks for,
    so ``W/"3"`` matches ``"3"``."""
    if if_none_match is None:
        return False
    offered = [tag.strip().removeprefix("W/") for tag in if_none_match.split(",")]
    return "*" in offered or etag in offered
