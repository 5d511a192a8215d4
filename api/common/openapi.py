"""The OpenAPI document, derived from the routes: the errors they answer and the credentials they read.

A dependency or an endpoint says which API errors it can answer (``@raises``) and which credential it reads
(``@authenticated_by``). ``document_api`` adds what holds for every route (the request guard answers 400 to any
request, 413 to any oversize body, and 401 where the path's gate (``api.common.gates``) wants the bearer token; a path
id can name nothing, 404) and writes each operation's error responses, all in the one error shape, and its
security requirements. A new route is documented by the dependencies it uses; a route's own ``responses=``
only adds what is particular to it.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

from fastapi import routing
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from pydantic import BaseModel
from starlette.routing import BaseRoute

from api.common.errors import ApiError, ErrorResponse, Unauthorized
from api.common.gates import BearerToken, GateTable
from capstan.settings import Settings

F = TypeVar("F", bound=Callable[..., Any])

_ERRORS_ATTR = "__capstan_errors__"
_CREDENTIALS_ATTR = "__capstan_credentials__"

BEARER = "bearerAuth"


@dataclass(frozen=True)
class SecurityScheme:
    """One credential routes read: its name in the document (what ``authenticated_by`` and a gate's
    ``schemes`` name), its ``securitySchemes`` entry, and whether this deployment's settings switch it on
    (a credential switched off is documented as optional). Each surface declares its own
    (``api.common.surface.ApiSurface.security_schemes``); the bearer token is the app's."""

    name: str
    #: The OpenAPI security scheme object (``{"type": "apiKey", "in": "header", "name": …}``).
    spec: Mapping[str, str]
    #: Whether the settings switch the credential on.
    enforced: Callable[[Settings], bool] = lambda settings: True


#: The app's bearer token (``api.common.auth``): the credential of every path no gate names otherwise.
BEARER_SCHEME = SecurityScheme(
    BEARER, {"type": "http", "scheme": "bearer",
             "description": "`Authorization: Bearer <CAPSTAN_API_TOKEN>`. Unset token: the API is open."},
    enforced=lambda settings: bool(settings.api.api_token))

#: What an error status means on any route; a route's own ``responses=`` description wins.
ERROR_DESCRIPTIONS = {
    400: "Invalid request: malformed or too deeply nested JSON, a wrong, missing or out-of-range field or "
         "parameter, an unknown enum value, a NaN or Infinity, a lone surrogate or a NUL byte",
    401: "Credentials missing or wrong: the bearer token, or another credential the operation names in its security",
    403: "Not allowed",
    404: "No record with the id in the path",
    409: "Not allowed from the record's current state",
    413: "Request body larger than CAPSTAN_MAX_BODY_BYTES",
    502: "Temporal refused the call",
    503: "Temporal is unreachable, or the action was not applied within CAPSTAN_UPDATE_TIMEOUT (`no_worker`: no "
         "worker took it; `action_pending`: an earlier action still holds the run); try again after Retry-After",
}

_BODY_METHODS = {"POST", "PUT", "PATCH", "DELETE"}
_ERROR_CONTENT = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorResponse"}}}
_REQUEST_ID_HEADER = {"X-Request-ID": {"description": "The request's id, also in every log line of it and in an "
                                                      "error's `request_id`.",
                                       "required": True, "schema": {"type": "string"}}}
_RETRY_AFTER_HEADER = {"Retry-After": {"description": "Seconds to wait before sending the request again.",
                                       "schema": {"type": "integer"}}}


def raises(*errors: type[ApiError]) -> Callable[[F], F]:
    """Mark a dependency or an endpoint with the errors it can answer; every route using it documents them."""

    def mark(func: F) -> F:
        setattr(func, _ERRORS_ATTR, (*getattr(func, _ERRORS_ATTR, ()), *errors))
        return func

    return mark


def authenticated_by(*schemes: str) -> Callable[[F], F]:
    """Mark a dependency or an endpoint as reading one credential: any one of ``schemes``."""

    def mark(func: F) -> F:
        setattr(func, _CREDENTIALS_ATTR, (*getattr(func, _CREDENTIALS_ATTR, ()), tuple(schemes)))
        return func

    return mark


def api_routes(routes: Iterable[BaseRoute]) -> Iterator[APIRoute]:
    """Every API route of ``routes`` (``app.routes``), through included routers.

    FastAPI ≥ 0.165 keeps included routers as routes of their own, walked by ``iter_route_contexts``; its
    contexts answer like the ``APIRoute`` they wrap (path_format, methods, dependant, …).
    """
    iterate = getattr(routing, "iter_route_contexts", None)
    for route in iterate(list(routes)) if iterate else routes:
        if isinstance(getattr(route, "original_route", route), APIRoute):
            yield route


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    if dependant.call is not None:
        yield dependant.call
    for sub in dependant.dependencies:
        yield from _calls(sub)


def _gate_credentials(route: APIRoute, gates: GateTable | None) -> list[tuple[str, ...]]:
    """What the request guard checks before the route runs: the bearer token, or the alternatives a
    gate names itself (``schemes``)."""
    if gates is None:
        return []
    gate = gates.gate_for(route.path_format)
    if isinstance(gate, BearerToken):
        return [(BEARER,)]
    return list(getattr(gate, "schemes", ()))


def route_errors(route: APIRoute, method: str, gates: GateTable | None = None) -> set[int]:
    """The error statuses ``method`` on ``route`` can answer."""
    codes = {400}
    if _gate_credentials(route, gates):
        codes.add(Unauthorized.status_code)
    if method in _BODY_METHODS:
        codes.add(413)
    if route.param_convertors:  # every path parameter is an id
        codes.add(404)
    for call in _calls(route.dependant):
        codes.update(error.status_code for error in getattr(call, _ERRORS_ATTR, ()))
    return codes


def route_security(route: APIRoute, schemes: Sequence[str], enforced: Iterable[str], gates: GateTable | None = None
                   ) -> list[dict[str, list[str]]]:
    """The OpenAPI security requirement of ``route``: its alternatives, each a set of credentials sent together
    (named in the order of ``schemes``).

    A credential the deployment does not enforce (no API token or webhook secret set; a project token, which
    only projects that have one need) may also be left out.
    """
    marked = [group for call in _calls(route.dependant) for group in getattr(call, _CREDENTIALS_ATTR, ())]
    groups = list(dict.fromkeys([*_gate_credentials(route, gates), *marked]))
    if not groups:
        return []
    enforced = set(enforced)
    choices = [[*group, *([] if enforced.intersection(group) else [None])] for group in groups]
    alternatives: list[dict[str, list[str]]] = []
    for combination in itertools.product(*choices):
        requirement = {scheme: [] for scheme in schemes if scheme in combination}
        if requirement not in alternatives:
            alternatives.append(requirement)
    return alternatives


#: Models of the request bodies routes read themselves (``json_body``), added to the document's schemas.
_BODY_MODELS: dict[str, type[BaseModel]] = {}


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` of a route that reads its JSON body itself (for the error messages its contract
    fixes): documents ``model`` as that body."""
    _BODY_MODELS[model.__name__] = model
    return {"requestBody": {"required": True, "content": {"application/json": {
        "schema": {"$ref": f"#/components/schemas/{model.__name__}"}}}}}


def _add_component(models: dict[str, Any], name: str, definition: dict[str, Any]) -> None:
    """Add a schema of a body a route reads itself; two different models under one name would make one
    route's document describe another's (two ``Priority`` enums once did), so that fails at once."""
    known = models.get(name)
    if known is not None and _shape(known) != _shape(definition):
        raise ValueError(f"two different schemas are named {name!r} in the OpenAPI document: rename one model")
    models[name] = definition


def _shape(schema: Any) -> Any:
    """A schema without its defaults: a model both read (a body) and answered documents them only as input."""
    if isinstance(schema, dict):
        return {key: _shape(value) for key, value in schema.items() if key != "default"}
    if isinstance(schema, list):
        return [_shape(value) for value in schema]
    return schema


def document_api(schema: dict[str, Any], routes: Iterable[BaseRoute], schemes: Sequence[SecurityScheme],
                 settings: Settings, gates: GateTable | None = None) -> dict[str, Any]:
    """Write the errors and security of every operation of ``routes`` into FastAPI's ``schema``, naming the
    credentials ``schemes`` declares (those ``settings`` switch off as optional).

    FastAPI documents validation failures as 422; Capstan answers them with 400 in the one error shape.
    """
    components = schema.setdefault("components", {})
    models = components.setdefault("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        models.pop(name, None)
    error_schema = ErrorResponse.model_json_schema(ref_template="#/components/schemas/{model}")
    models.update(error_schema.pop("$defs", {}))
    models["ErrorResponse"] = error_schema
    for name, model in _BODY_MODELS.items():
        body_schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        for component, definition in {**body_schema.pop("$defs", {}), name: body_schema}.items():
            _add_component(models, component, definition)
    components["securitySchemes"] = {scheme.name: dict(scheme.spec) for scheme in schemes}
    names = [scheme.name for scheme in schemes]
    enforced = {scheme.name for scheme in schemes if scheme.enforced(settings)}
    for route in api_routes(routes):
        if not route.include_in_schema:
            continue
        for method in route.methods:
            operation = schema["paths"][route.path_format][method.lower()]
            responses = operation.setdefault("responses", {})
            if responses.get("422", {}).get("description") == "Validation Error":  # FastAPI's; Capstan says 400
                responses.pop("422")
            for code in route_errors(route, method, gates):
                responses.setdefault(str(code), {"description": ERROR_DESCRIPTIONS.get(code, HTTPStatus(code).phrase)})
            for code, response in responses.items():
                if code[0] in "45":
                    response.setdefault("content", _ERROR_CONTENT)
                response.setdefault("headers", {}).update(_REQUEST_ID_HEADER)
                if code == "503":
                    response["headers"].update(_RETRY_AFTER_HEADER)
            operation["responses"] = dict(sorted(responses.items()))
            operation["security"] = route_security(route, names, enforced, gates)
    return schema
