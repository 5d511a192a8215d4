"""Who may call which ``/api/v1`` route: one table, enforced by one dependency.

``ROUTE_ACCESS`` maps every route (method, path template) to the roles allowed and whether it acts in
a workspace (``x-workspace-id``). Every route of the surface is a ``PlatformRoute``, which exists only with
its entry (``api.platform_v1.routing.platform_route`` registers them and writes the entry's roles into the
route's OpenAPI description). ``current_caller`` (``CallerDep``, the typed caller a route and its services
get) checks the entry before anything else of the route: 403 without one of its roles; then, for a tenant
route, 400 without ``x-workspace-id`` and 404 for a workspace that does not exist or that the caller may not
act in, never a hint which. A signed webhook (``Access.signed``) has no caller: its gate checks the signature. A
mutating route's ``Idempotency-Key`` depends on the caller, so a refused caller
never reserves or replays a key. ``docs/api/platform-v1-roles.md`` is rendered from the same table
(``roles_markdown``).

The roles, from their descriptions: ``viewer`` reads operational data; ``ops_engineer`` reads and
writes it; ``billing`` owns the financial resources (contracts, quotes, invoices, payments) and reads
the client directory; ``integration_admin`` reads what the accounting adapters sync and manages the
workspace's secrets; ``data_admin`` writes broadly; ``automation_operator`` reads operational data
and executes agents (execute, retry, cancel, the agent registry); ``platform_admin`` only the non-tenant
configuration (workspaces, platform settings and secrets); ``endpoint_agent`` has only its own routes (the
ingest, with its enrollment token, and ``/edge-agent/…``), ``client_portal`` only the portal's. ``msp_admin``
may do everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.routing import APIRoute

from api.common.auth import PRINCIPAL_SCOPE_KEY, Principal
from api.common.deps import SessionDep
from api.common.errors import BadRequest, Forbidden, NotFound
from api.platform_v1.caller import Caller
from capstan.logs import request_id_var
from models.platform_v1.catalog import RESOURCES
from models.platform_v1.roles import Role
from models.platform_v1.tables import WorkspaceRow

V1 = "/api/v1"
WORKSPACE_HEADER = "x-workspace-id"

R = Role
OPERATIONAL_READ = frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.AUTOMATION_OPERATOR, R.DATA_ADMIN, R.VIEWER})
OPERATIONAL_WRITE = frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.DATA_ADMIN})
FINANCIAL_READ = frozenset({R.MSP_ADMIN, R.BILLING, R.DATA_ADMIN, R.INTEGRATION_ADMIN})
FINANCIAL_WRITE = frozenset({R.MSP_ADMIN, R.BILLING, R.DATA_ADMIN})
#: The client directory: read by everyone who works for clients, billing and the accounting adapters too.
DIRECTORY = frozenset({"clients", "contacts"})
PLATFORM_CONFIG = frozenset({R.MSP_ADMIN, R.PLATFORM_ADMIN})
#: Who runs agents: starts, retries and cancels executions, registers agents and their heartbeats.
EXECUTE = frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.AUTOMATION_OPERATOR})
#: The edge agent's own routes, and who else reads them.
EDGE = frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.ENDPOINT_AGENT})
#: Who sends events in (an ``endpoint_agent`` with its enrollment token too).
INGEST = frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.INTEGRATION_ADMIN, R.ENDPOINT_AGENT})
#: The workspace's adapters (accounting, notifications).
ADAPTERS = frozenset({R.MSP_ADMIN, R.INTEGRATION_ADMIN})
#: Who imports and exports a workspace's records.
DATA = frozenset({R.MSP_ADMIN, R.DATA_ADMIN})
#: Who reads jobs.
JOB_READERS = frozenset({R.MSP_ADMIN, R.DATA_ADMIN, R.INTEGRATION_ADMIN, R.OPS_ENGINEER})
#: Who retries a failed job.
JOB_RETRIERS = frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.DATA_ADMIN, R.INTEGRATION_ADMIN})


@dataclass(frozen=True)
class Access:
    roles: frozenset[Role]
    #: Acts in the workspace of ``x-workspace-id`` (required).
    tenant: bool
    #: A signed webhook: no token and no role, no ``Idempotency-Key``; its gate checks the signature over the
    #: raw body (``api.platform_v1.webhook_signature``) and its delivery id takes the key's place.
    signed: bool = False


#: The entry of a signed webhook.
SIGNED = Access(frozenset(), tenant=False, signed=True)


def _resource_access() -> dict[tuple[str, str], Access]:
    table: dict[tuple[str, str], Access] = {}
    for spec in RESOURCES:
        read, write = (FINANCIAL_READ, FINANCIAL_WRITE) if spec.financial else (OPERATIONAL_READ, OPERATIONAL_WRITE)
        if spec.name in DIRECTORY:
            read = read | {R.BILLING, R.INTEGRATION_ADMIN}
        one = f"{V1}/{spec.name}/{{resource_id}}"
        table[("GET", f"{V1}/{spec.name}")] = Access(read, tenant=True)
        table[("POST", f"{V1}/{spec.name}")] = Access(write, tenant=True)
        table[("GET", one)] = Access(read, tenant=True)
        table[("GET", f"{one}/audit")] = Access(read, tenant=True)
        for method in ("PUT", "PATCH", "DELETE"):
            table[(method, one)] = Access(write, tenant=True)
    return table


ROUTE_ACCESS: dict[tuple[str, str], Access] = {
    ("GET", f"{V1}/workspaces"): Access(PLATFORM_CONFIG, tenant=False),
    ("POST", f"{V1}/workspaces"): Access(PLATFORM_CONFIG, tenant=False),
    ("GET", f"{V1}/workspaces/{{workspace_id}}"): Access(PLATFORM_CONFIG, tenant=False),
    ("GET", f"{V1}/platform/settings"): Access(PLATFORM_CONFIG, tenant=False),
    ("PUT", f"{V1}/platform/settings"): Access(PLATFORM_CONFIG, tenant=False),
    ("GET", f"{V1}/platform/secrets"): Access(PLATFORM_CONFIG, tenant=False),
    ("POST", f"{V1}/platform/secrets/{{key}}"): Access(PLATFORM_CONFIG, tenant=False),
    ("GET", f"{V1}/audit-credentials"): Access(PLATFORM_CONFIG, tenant=False),
    ("GET", f"{V1}/workspace/settings"): Access(OPERATIONAL_READ | {R.INTEGRATION_ADMIN}, tenant=True),
    ("PUT", f"{V1}/workspace/settings"): Access(frozenset({R.MSP_ADMIN, R.DATA_ADMIN}), tenant=True),
    ("PATCH", f"{V1}/workspace/settings"): Access(frozenset({R.MSP_ADMIN, R.DATA_ADMIN}), tenant=True),
    ("GET", f"{V1}/workspace/secrets"): Access(frozenset({R.MSP_ADMIN, R.INTEGRATION_ADMIN}), tenant=True),
    ("POST", f"{V1}/workspace/secrets/{{key}}"): Access(frozenset({R.MSP_ADMIN, R.INTEGRATION_ADMIN}), tenant=True),
    ("GET", f"{V1}/workspace/audit-credentials"): Access(frozenset({R.MSP_ADMIN, R.INTEGRATION_ADMIN}), tenant=True),
    ("GET", f"{V1}/edge-agent/policy"): Access(EDGE, tenant=True),
    ("GET", f"{V1}/edge-agent/enrollment"): Access(EDGE, tenant=True),
    ("POST", f"{V1}/edge-agent/enrollment/rotate"): Access(frozenset({R.MSP_ADMIN, R.OPS_ENGINEER}), tenant=True),
    ("POST", f"{V1}/events/ingest"): Access(INGEST, tenant=True),
    ("GET", f"{V1}/events/ingest-batches"): Access(OPERATIONAL_READ, tenant=True),
    ("GET", f"{V1}/edge-agent/ingest-status"): Access(EDGE | {R.VIEWER}, tenant=True),
    ("GET", f"{V1}/events/outbox"): Access(OPERATIONAL_READ | {R.INTEGRATION_ADMIN}, tenant=True),
    ("POST", f"{V1}/agent-runtime/outbox-failures/{{event_id}}/retry"): Access(
        frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.INTEGRATION_ADMIN}), tenant=True),
    ("POST", f"{V1}/integrations/notifications/test"): Access(ADAPTERS, tenant=True),
    **_resource_access(),
    ("GET", f"{V1}/workflow-executions"): Access(OPERATIONAL_READ, tenant=True),
    ("GET", f"{V1}/workflow-executions/{{execution_id}}"): Access(OPERATIONAL_READ, tenant=True),
    ("POST", f"{V1}/workflow-executions/{{execution_id}}/retry"): Access(EXECUTE, tenant=True),
    ("POST", f"{V1}/workflow-executions/{{execution_id}}/cancel"): Access(EXECUTE, tenant=True),
    ("GET", f"{V1}/artifacts/{{artifact_id}}"): Access(OPERATIONAL_READ, tenant=True),
    ("GET", f"{V1}/agent-runtime/agents"): Access(OPERATIONAL_READ, tenant=True),
    ("PUT", f"{V1}/agent-runtime/agents/{{agent_id}}"): Access(EXECUTE, tenant=True),
    ("POST", f"{V1}/agent-runtime/agents/{{agent_id}}/heartbeat"): Access(EXECUTE, tenant=True),
    ("POST", f"{V1}/execute/{{target}}"): Access(EXECUTE, tenant=True),
    ("GET", f"{V1}/agent-runtime/health"): Access(OPERATIONAL_READ, tenant=True),
    ("GET", f"{V1}/agent-runtime/queues"): Access(OPERATIONAL_READ, tenant=True),
    ("POST", f"{V1}/agent-runtime/smoke"): Access(frozenset({R.MSP_ADMIN, R.OPS_ENGINEER}), tenant=True),
    ("POST", f"{V1}/webhooks/workflow-completed"): SIGNED,
    ("POST", f"{V1}/integrations/github/webhook"): SIGNED,
    ("POST", f"{V1}/imports"): Access(DATA, tenant=True),
    ("POST", f"{V1}/exports"): Access(DATA, tenant=True),
    ("GET", f"{V1}/jobs"): Access(JOB_READERS, tenant=True),
    ("GET", f"{V1}/jobs/{{job_id}}"): Access(JOB_READERS, tenant=True),
    ("POST", f"{V1}/agent-runtime/job-failures/{{job_id}}/retry"): Access(JOB_RETRIERS, tenant=True),
    ("GET", f"{V1}/agent-runtime/failures"): Access(OPERATIONAL_READ, tenant=True),
    ("POST", f"{V1}/integrations/accounting/sync"): Access(ADAPTERS, tenant=True),
}


def workspace_header(request: Request) -> str | None:
    value = request.headers.get(WORKSPACE_HEADER)
    return value.strip() if value is not None else None


class PlatformRoute(APIRoute):
    """A route of ``/api/v1``, with its entry of ``ROUTE_ACCESS`` (a ``KeyError`` names a route without one)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **options: Any) -> None:
        [method] = {method.upper() for method in options.get("methods") or ()}
        self.access: Access = ROUTE_ACCESS[(method, path)]
        super().__init__(path, endpoint, **options)


async def current_caller(request: Request, db: SessionDep) -> Caller:
    """The caller of a ``PlatformRoute``, once its entry allows it: 403 without one of the route's roles; then,
    on a tenant route, 400 without ``x-workspace-id`` and 404 for a workspace that does not exist or that the
    caller may not act in (the same answer)."""
    route: PlatformRoute = request.scope["route"]
    access = route.access
    principal: Principal = request.scope[PRINCIPAL_SCOPE_KEY]
    if not access.roles & principal.roles:
        raise Forbidden("your roles do not allow this route; it needs one of: "
                        + ", ".join(sorted(access.roles)), code="forbidden_role")
    workspace_id = None
    if access.tenant:
        workspace_id = workspace_header(request)
        if not workspace_id:
            raise BadRequest(f"{WORKSPACE_HEADER} is required on this route", code="workspace_required")
        exists = principal.may_act_in(workspace_id) and await db.get(WorkspaceRow, workspace_id) is not None
        # Hand the connection back before the route goes on: a mutating route reserves its key on
        # another one first, and a request must never hold two (a full pool would wait on itself).
        await db.rollback()
        if not exists:
            raise NotFound("workspace not found", code="workspace_not_found")
    return Caller(principal, workspace_id, request_id_var.get())


#: The caller of a ``PlatformRoute``, its access checked (FastAPI runs the check once per request).
CallerDep = Annotated[Caller, Depends(current_caller)]


def roles_text(access: Access) -> str:
    if access.signed:
        return "**Access:** the signature of the raw body only: no token, no role, no `Idempotency-Key`."
    scope = f"in the workspace of `{WORKSPACE_HEADER}`" if access.tenant else "outside any workspace"
    return f"**Roles:** {', '.join(f'`{role}`' for role in sorted(access.roles))} ({scope})."


def roles_markdown() -> str:
    """The table of ``docs/api/platform-v1-roles.md``; a unit test keeps the two identical."""
    roles = list(Role)
    rows = ["| Route | Workspace | " + " | ".join(f"`{role}`" for role in roles) + " |",
            "|---|---|" + "---|" * len(roles)]
    for (method, path), access in sorted(ROUTE_ACCESS.items(), key=lambda item: (item[0][1], item[0][0])):
        marks = " | ".join("✓" if role in access.roles else "" for role in roles)
        if access.signed:
            marks = " | ".join("signature" for _ in roles)
        rows.append(f"| `{method} {path}` | {'yes' if access.tenant else 'no'} | {marks} |")
    return "\n".join(rows) + "\n"
