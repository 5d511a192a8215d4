"""Who may call which ``/api/v1`` route: one table, enforced by one dependency.

``ROUTE_ACCESS`` maps every route (method, path template) to the roles allowed and whether it acts in
a workspace (``x-workspace-id``). ``platform_route`` registers a route only with its entry: the entry's
check runs first (403 without one of its roles; then, for a tenant route, 400 without
``x-workspace-id`` and 404 for a workspace that does not exist or that the caller may not act in,
never a hint which; on a mutating route before its ``Idempotency-Key`` is looked at, so a refused
caller never reserves or replays a key), and its roles are written into the route's OpenAPI description.
``docs/api/platform-v1-roles.md`` is rendered from the same table (``roles_markdown``).

The roles, from their descriptions: ``viewer`` reads operational data; ``ops_engineer`` reads and
writes it; ``billing`` owns the financial resources (contracts, quotes, invoices, payments) and reads
the client directory; ``integration_admin`` reads what the accounting adapters sync and manages the
workspace's secrets; ``data_admin`` writes broadly; ``automation_operator`` reads operational data
(it executes agents, in a later API); ``platform_admin`` only the non-tenant configuration
(workspaces, platform settings and secrets); ``endpoint_agent`` and ``client_portal`` have only their
own routes (telemetry ingest, the portal), none here. ``msp_admin`` may do everything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Request

from api.common.auth import PRINCIPAL_SCOPE_KEY, Principal
from api.common.deps import SessionDep
from api.common.errors import BadRequest, Forbidden, NotFound
from api.platform_v1.query_parameters import refuse_unknown_query_parameters
from capstan.logs import request_id_var
from models.platform_v1.catalog import RESOURCES
from models.platform_v1.roles import Role
from models.platform_v1.tables import WorkspaceRow

F = TypeVar("F", bound=Callable[..., Any])

V1 = "/api/v1"
WORKSPACE_HEADER = "x-workspace-id"
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})

R = Role
OPERATIONAL_READ = frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.AUTOMATION_OPERATOR, R.DATA_ADMIN, R.VIEWER})
OPERATIONAL_WRITE = frozenset({R.MSP_ADMIN, R.OPS_ENGINEER, R.DATA_ADMIN})
FINANCIAL_READ = frozenset({R.MSP_ADMIN, R.BILLING, R.DATA_ADMIN, R.INTEGRATION_ADMIN})
FINANCIAL_WRITE = frozenset({R.MSP_ADMIN, R.BILLING, R.DATA_ADMIN})
#: The client directory: read by everyone who works for clients, billing and the accounting adapters too.
DIRECTORY = frozenset({"clients", "contacts"})
PLATFORM_CONFIG = frozenset({R.MSP_ADMIN, R.PLATFORM_ADMIN})


@dataclass(frozen=True)
class Access:
    roles: frozenset[Role]
    #: Acts in the workspace of ``x-workspace-id`` (required).
    tenant: bool


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
    ("GET", f"{V1}/workspace/secrets"): Access(frozenset({R.MSP_ADMIN, R.INTEGRATION_ADMIN}), tenant=True),
    ("POST", f"{V1}/workspace/secrets/{{key}}"): Access(frozenset({R.MSP_ADMIN, R.INTEGRATION_ADMIN}), tenant=True),
    **_resource_access(),
}


@dataclass(frozen=True)
class Caller:
    """Who calls, in which workspace (tenant routes), under which correlation id."""

    principal: Principal
    workspace_id: str | None
    correlation_id: str

    @property
    def actor(self) -> str:
        return self.principal.subject

    @property
    def tenant(self) -> str:
        """The workspace id of a tenant route (the access check guarantees one)."""
        assert self.workspace_id is not None, "a tenant route without its workspace"
        return self.workspace_id


CALLER_STATE = "platform_caller"


def workspace_header(request: Request) -> str | None:
    value = request.headers.get(WORKSPACE_HEADER)
    return value.strip() if value is not None else None


def _checker(access: Access) -> Callable[..., Any]:
    async def check_access(request: Request, db: SessionDep) -> None:
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
        setattr(request.state, CALLER_STATE, Caller(principal, workspace_id, request_id_var.get()))

    return check_access


async def _caller(request: Request) -> Caller:
    return getattr(request.state, CALLER_STATE)


#: The caller of a route registered with ``platform_route`` (its access already checked).
CallerDep = Annotated[Caller, Depends(_caller)]


def roles_text(access: Access) -> str:
    scope = f"in the workspace of `{WORKSPACE_HEADER}`" if access.tenant else "outside any workspace"
    return f"**Roles:** {', '.join(f'`{role}`' for role in sorted(access.roles))} ({scope})."


def _header_parameters(method: str, access: Access) -> list[dict[str, Any]]:
    """The headers a route reads, for its OpenAPI operation (the gate and the checks read them, not FastAPI)."""
    headers = []
    if access.tenant:
        headers.append({"name": WORKSPACE_HEADER, "in": "header", "required": True,
                        "schema": {"type": "string", "maxLength": 64},
                        "description": "The workspace the request acts in (one of the token's `workspaces`)."})
    if method in MUTATING:
        headers.append({"name": "Idempotency-Key", "in": "header", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": 255},
                        "description": "A unique value per operation, sent again unchanged when the operation is "
                                       "retried: the first response is replayed."})
    headers.append({"name": "x-correlation-id", "in": "header", "required": False,
                    "schema": {"type": "string", "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"},
                    "description": "Ties the request to its logs, records and workflows; generated when absent."})
    return headers


def _access_responses(method: str, access: Access) -> dict[int | str, dict[str, Any]]:
    """The answers the access check and the idempotency key give on a route, for its OpenAPI operation."""
    responses: dict[int | str, dict[str, Any]] = {
        403: {"description": "`forbidden_role`: the token has none of the route's roles"}}
    if access.tenant:
        responses[400] = {"description": "`workspace_required` (no `x-workspace-id`), or a bad parameter or body"}
        responses[404] = {"description": "`workspace_not_found`: no such workspace, or not one the token may act "
                                         "in; or no such record in this workspace"}
    if method in MUTATING:
        responses[409] = {"description": "`idempotency_key_in_flight`: the first request with this key has not "
                                         "answered yet (see `Retry-After`)"}
        responses[422] = {"description": "`idempotency_key_reused`: the key was used for another request"}
    return responses


def platform_route(router: APIRouter, method: str, path: str, *, description: str = "",
                   **options: Any) -> Callable[[F], F]:
    """Register ``method path`` with its access table entry (a ``KeyError`` names a route without one)."""
    access = ROUTE_ACCESS[(method, path)]

    def register(endpoint: F) -> F:
        from api.platform_v1.idempotency import IdempotentRoute

        extra = {"route_class_override": IdempotentRoute} if method in MUTATING else {}
        openapi_extra = dict(options.pop("openapi_extra", None) or {})
        openapi_extra["parameters"] = [*_header_parameters(method, access), *openapi_extra.get("parameters", [])]
        responses = {**_access_responses(method, access), **(options.pop("responses", None) or {})}
        checks = [Depends(_checker(access)), Depends(refuse_unknown_query_parameters)]
        router.add_api_route(path, endpoint, methods=[method], dependencies=checks,
                             description="\n\n".join(part for part in (description, roles_text(access)) if part),
                             operation_id=options.pop("operation_id", None) or f"{endpoint.__name__}",
                             openapi_extra=openapi_extra, responses=responses, **extra, **options)
        return endpoint

    return register


def roles_markdown() -> str:
    """The table of ``docs/api/platform-v1-roles.md``; a unit test keeps the two identical."""
    roles = list(Role)
    rows = ["| Route | Workspace | " + " | ".join(f"`{role}`" for role in roles) + " |",
            "|---|---|" + "---|" * len(roles)]
    for (method, path), access in sorted(ROUTE_ACCESS.items(), key=lambda item: (item[0][1], item[0][0])):
        marks = " | ".join("✓" if role in access.roles else "" for role in roles)
        rows.append(f"| `{method} {path}` | {'yes' if access.tenant else 'no'} | {marks} |")
    return "\n".join(rows) + "\n"
