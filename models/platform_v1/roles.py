"""The ten roles of a principal's JWT ``roles`` claim, and what each is for.

Which role may call which route is one table in ``api.platform_v1.access``; this module only names them.
"""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    MSP_ADMIN = "msp_admin"
    OPS_ENGINEER = "ops_engineer"
    AUTOMATION_OPERATOR = "automation_operator"
    INTEGRATION_ADMIN = "integration_admin"
    BILLING = "billing"
    DATA_ADMIN = "data_admin"
    VIEWER = "viewer"
    PLATFORM_ADMIN = "platform_admin"
    ENDPOINT_AGENT = "endpoint_agent"
    CLIENT_PORTAL = "client_portal"


ROLE_DESCRIPTIONS: dict[Role, str] = {
    Role.MSP_ADMIN: "full platform access",
    Role.OPS_ENGINEER: "operations + telemetry + execution access",
    Role.AUTOMATION_OPERATOR: "allowed to execute agents",
    Role.INTEGRATION_ADMIN: "accounting/notification adapter operations",
    Role.BILLING: "financial resource access",
    Role.DATA_ADMIN: "import/export and broad write capabilities",
    Role.VIEWER: "read-only operational visibility",
    Role.PLATFORM_ADMIN: "non-tenant platform configuration and secret management",
    Role.ENDPOINT_AGENT: "telemetry ingest + edge policy access",
    Role.CLIENT_PORTAL: "scoped client-facing read access",
}

#: Roles that may act in any workspace, whatever the token's ``workspaces`` claim says.
ANY_WORKSPACE_ROLES = frozenset({Role.MSP_ADMIN, Role.PLATFORM_ADMIN})


def known_roles(claimed: object) -> frozenset[Role]:
    """The roles of a ``roles`` claim that Capstan knows (a list of strings; others are ignored)."""
    if not isinstance(claimed, list):
        return frozenset()
    return frozenset(Role(value) for value in claimed if isinstance(value, str) and value in Role._value2member_map_)
