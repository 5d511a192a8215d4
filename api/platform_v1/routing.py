"""``platform_route``: how every ``/api/v1`` route is registered.

A route is a ``PlatformRoute`` (its ``ROUTE_ACCESS`` entry, checked by ``CallerDep`` before anything else), or,
for a mutating method, an ``IdempotentRoute`` (its ``Idempotency-Key`` reserved once the caller is allowed). A
signed webhook's route has neither check: its gate verifies the signature, its delivery id replaces the key.
Unknown query parameters are refused. The route's OpenAPI operation gets the headers the checks read, the
answers they give and the roles of its entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from fastapi import APIRouter, Depends

from api.platform_v1.access import ROUTE_ACCESS, WORKSPACE_HEADER, Access, PlatformRoute, current_caller, roles_text
from api.platform_v1.idempotency import IdempotentRoute
from api.platform_v1.query_parameters import refuse_unknown_query_parameters

F = TypeVar("F", bound=Callable[..., Any])

MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _header_parameters(method: str, access: Access) -> list[dict[str, Any]]:
    """The headers a route reads, for its OpenAPI operation (the gate and the checks read them, not FastAPI)."""
    headers = []
    if access.signed:
        return headers
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
    if access.signed:
        return {}
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
        route_class = IdempotentRoute if method in MUTATING and not access.signed else PlatformRoute
        openapi_extra = dict(options.pop("openapi_extra", None) or {})
        openapi_extra["parameters"] = [*_header_parameters(method, access), *openapi_extra.get("parameters", [])]
        responses = {**_access_responses(method, access), **(options.pop("responses", None) or {})}
        checks = [Depends(refuse_unknown_query_parameters)]
        if not access.signed:
            checks.insert(0, Depends(current_caller))
        router.add_api_route(path, endpoint, methods=[method], dependencies=checks,
                             description="\n\n".join(part for part in (description, roles_text(access)) if part),
                             operation_id=options.pop("operation_id", None) or f"{endpoint.__name__}",
                             openapi_extra=openapi_extra, responses=responses, route_class_override=route_class,
                             **options)
        return endpoint

    return register
