"""The enrollment check of the ingest, behind one seam: what an ``endpoint_agent`` must prove, and whether a
workspace is enrolled at all.

An ``endpoint_agent`` whose roles give it the ingest route only through that role must send
``x-enrollment-token``, which must be the workspace's current enrollment token (or the previous one within its
grace period); otherwise ``403 enrollment_invalid``, and a workspace that never issued a token answers the same.
Tokens are issued by ``POST /api/v1/edge-agent/enrollment/rotate`` and checked, in constant time, by the
enrollment service (``enrollment_token_valid``), which this module defers to once it exists.

SEAM: until then no workspace can have issued a token, so ``enrollment_allows`` and ``workspace_enrolled``
answer ``False``: every ``endpoint_agent`` ingest is refused, exactly as for a workspace that never issued
one. These two functions are the only places the ingest asks; wire them to the enrollment service:

    enrollment_allows   -> ``token is not None and await enrollment_token_valid(db, workspace_id, token)``
    workspace_enrolled  -> whether the workspace has an active token (``GET /edge-agent/enrollment``'s
                           ``status == "active"``)
"""

from __future__ import annotations

from sqlmodel.ext.asyncio.session import AsyncSession

from api.platform_v1.caller import Caller
from models.platform_v1.roles import Role

ENROLLMENT_HEADER = "x-enrollment-token"
#: The roles of ``POST /api/v1/events/ingest`` that need no enrollment token (``ROUTE_ACCESS`` has the same).
TRUSTED_INGEST_ROLES = frozenset({Role.MSP_ADMIN, Role.OPS_ENGINEER, Role.INTEGRATION_ADMIN})


def needs_enrollment(caller: Caller) -> bool:
    """Whether the caller reaches the ingest only as an ``endpoint_agent`` (a token that also holds a role
    the route trusts needs no enrollment token: that role may ingest anyway)."""
    roles = caller.principal.roles
    return Role.ENDPOINT_AGENT in roles and not roles & TRUSTED_INGEST_ROLES


async def enrollment_allows(db: AsyncSession, workspace_id: str, token: str | None) -> bool:
    """Whether ``token`` is a valid enrollment token of the workspace. SEAM: no token exists yet (see above)."""
    del db, workspace_id, token
    return False


async def workspace_enrolled(db: AsyncSession, workspace_id: str) -> bool:
    """Whether the workspace has an enrollment token an edge agent can send. SEAM: none exists yet."""
    del db, workspace_id
    return False
