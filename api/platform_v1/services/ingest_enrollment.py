"""The enrollment check of the ingest, behind one seam: what an ``endpoint_agent`` must prove, and whether a
workspace is enrolled at all.

An ``endpoint_agent`` whose roles give it the ingest route only through that role must send
``x-enrollment-token``, which must be the workspace's current enrollment token (or the previous one within its
grace period); otherwise ``403 enrollment_invalid``, and a workspace that never issued a token answers the same.
Tokens are issued by ``POST /api/v1/edge-agent/enrollment/rotate`` and checked, in constant time, by the
enrollment service (``api.platform_v1.services.enrollment``): these two functions are the only places the
ingest asks it.
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from api.platform_v1.caller import Caller
from api.platform_v1.services.enrollment import ENROLLMENT_HEADER, enrollment_token_valid, has_current_token
from models.platform_v1.roles import Role

__all__ = ["ENROLLMENT_HEADER", "enrollment_allows", "needs_enrollment", "workspace_enrolled"]

#: The roles of ``POST /api/v1/events/ingest`` that need no enrollment token (``ROUTE_ACCESS`` has the same).
TRUSTED_INGEST_ROLES = frozenset({Role.MSP_ADMIN, Role.OPS_ENGINEER, Role.INTEGRATION_ADMIN})


def needs_enrollment(caller: Caller) -> bool:
    """Whether the caller reaches the ingest only as an ``endpoint_agent`` (a token that also holds a role
    the route trusts needs no enrollment token: that role may ingest anyway)."""
    roles = caller.principal.roles
    return Role.ENDPOINT_AGENT in roles and not roles & TRUSTED_INGEST_ROLES


async def enrollment_allows(db: AsyncSession, workspace_id: str, token: str | None) -> bool:
    """Whether ``token`` is the workspace's current enrollment token, or the one it replaced within its grace
    period (a workspace that never issued one: never)."""
    return await enrollment_token_valid(db, workspace_id, token)


async def workspace_enrolled(db: AsyncSession, workspace_id: str) -> bool:
    """Whether the workspace has an enrollment token an edge agent can send (``GET /edge-agent/enrollment``'s
    ``status`` is ``active``)."""
    return await has_current_token(db, workspace_id)
