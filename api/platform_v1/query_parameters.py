"""Every /api/v1 route refuses query parameters it does not know: a misspelt filter (``?stauts=open``)
would otherwise answer the whole list as if it had been applied.

The parameters a route knows are the ones its OpenAPI entry documents: those FastAPI reads for it
(its own and its dependencies') and those added by hand in ``openapi_extra`` (the resource filters).
"""

from __future__ import annotations

from fastapi import Request
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute

from api.common.errors import BadRequest


def _read_by(dependant: Dependant) -> set[str]:
    names = {param.alias for param in dependant.query_params}
    for sub in dependant.dependencies:
        names |= _read_by(sub)
    return names


#: Known parameters by (method, path): the same for every app built from these routes.
_KNOWN: dict[tuple[frozenset[str], str], frozenset[str]] = {}


def known_query_parameters(route: APIRoute) -> frozenset[str]:
    key = (frozenset(route.methods), route.path)
    if key not in _KNOWN:
        documented = (route.openapi_extra or {}).get("parameters", [])
        _KNOWN[key] = frozenset(_read_by(route.dependant) | {p["name"] for p in documented if p.get("in") == "query"})
    return _KNOWN[key]


async def refuse_unknown_query_parameters(request: Request) -> None:
    known = known_query_parameters(request.scope["route"])
    unknown = sorted(set(request.query_params) - known)
    if unknown:
        allowed = ", ".join(sorted(known)) or "none"
        raise BadRequest(f"unknown query parameter {', '.join(unknown)}; this route takes: {allowed}",
                         code="unknown_parameter",
                         extra={"fields": [{"field": f"query.{name}", "message": "not a parameter of this route",
                                            "type": "unknown_parameter"} for name in unknown]})
