"""Every route has a typed contract: a response model on the route, and a schema a client generator can type
for every 2xx body in both OpenAPI documents (``/openapi.json`` and ``/api/v1/openapi``).

A generated client (``openapi-python-client``, say) returns ``Any`` for a body documented as a bare object;
these tests fail the day a route is added without its model.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.routing import APIRoute

from api.app import create_app
from api.common.openapi import api_routes
from capstan.settings import Settings

#: Routes whose answer is not a JSON body a client types: the OpenAPI documents and their UI pages,
#: Prometheus' text format, and plain-text liveness.
UNTYPED = {"/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc", "/api/v1/openapi", "/metrics", "/healthz"}
#: Success statuses that carry no body.
BODYLESS = {204, 301, 302, 303, 307, 308}


@pytest.fixture(scope="module")
def app():
    return create_app(Settings())


def _route(route: Any) -> APIRoute:
    return getattr(route, "original_route", route)


def test_every_route_declares_its_response_model(app):
    untyped = []
    for route in api_routes(app.routes):
        plain = _route(route)
        if route.path_format in UNTYPED or not plain.include_in_schema:
            continue
        if plain.response_model is None and (plain.status_code or 200) not in BODYLESS:
            untyped.append(f"{sorted(route.methods)} {route.path_format}")
    assert not untyped, "routes without a response model:\n" + "\n".join(untyped)


def _resolve(spec: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    return schema


def typed(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> bool:
    """Whether a generated client gets a real type for ``schema``: an object with properties, a list or a
    map of such, or a choice between them (``null`` aside)."""
    if depth > 20:
        return True  # a recursive model
    schema = _resolve(spec, schema)
    choices = schema.get("anyOf") or schema.get("oneOf") or schema.get("allOf")
    if choices:
        concrete = [choice for choice in choices if _resolve(spec, choice).get("type") != "null"]
        return bool(concrete) and all(typed(spec, choice, depth + 1) for choice in concrete)
    if schema.get("properties"):
        return True
    if schema.get("type") == "array":
        return typed(spec, schema.get("items", {}), depth + 1)
    values = schema.get("additionalProperties")
    if schema.get("type") == "object" and isinstance(values, dict) and values:
        return _resolve(spec, values).get("type") in {"string", "integer", "number", "boolean"} \
            or typed(spec, values, depth + 1)
    return False


def untyped_bodies(spec: dict[str, Any]) -> list[str]:
    found = []
    for path, item in spec["paths"].items():
        if path in UNTYPED:
            continue
        for method, operation in item.items():
            for code, response in operation.get("responses", {}).items():
                if not code.startswith("2") or int(code) in BODYLESS:
                    continue
                for media, content in (response.get("content") or {}).items():
                    if media == "application/json" and not typed(spec, content.get("schema", {})):
                        found.append(f"{method.upper()} {path} {code}: {content.get('schema')}")
                if not response.get("content"):
                    found.append(f"{method.upper()} {path} {code}: no content documented")
    return found


def test_every_2xx_body_of_the_document_has_a_typed_schema(app):
    untyped = untyped_bodies(app.openapi())
    assert not untyped, "2xx bodies a generated client could not type:\n" + "\n".join(untyped)


async def test_every_2xx_body_of_the_platform_document_has_a_typed_schema(app):
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://capstan.test") as client:
        spec = (await client.get("/api/v1/openapi")).raise_for_status().json()
    untyped = untyped_bodies(spec)
    assert not untyped, "2xx bodies of /api/v1/openapi a generated client could not type:\n" + "\n".join(untyped)


def test_the_check_tells_a_bare_object_from_a_typed_one():
    spec = {"components": {"schemas": {"Task": {"type": "object", "properties": {"id": {"type": "string"}}}}}}
    assert typed(spec, {"$ref": "#/components/schemas/Task"})
    assert typed(spec, {"type": "array", "items": {"$ref": "#/components/schemas/Task"}})
    assert typed(spec, {"anyOf": [{"$ref": "#/components/schemas/Task"}, {"type": "null"}]})
    assert typed(spec, {"type": "object", "additionalProperties": {"type": "string"}})
    assert not typed(spec, {"type": "object"})
    assert not typed(spec, {"type": "object", "additionalProperties": True})
    assert not typed(spec, {})


def test_two_different_models_under_one_name_fail_the_document():
    """A body model's enum once replaced another surface's of the same name in the document (two
    ``Priority`` enums), so the platform's tickets were documented with the coding tasks' priorities."""
    from api.common.openapi import _add_component

    models = {"Priority": {"enum": ["low", "medium", "high", "critical"], "type": "string"}}
    _add_component(models, "Priority", {"enum": ["low", "medium", "high", "critical"], "type": "string"})
    with pytest.raises(ValueError, match="Priority"):
        _add_component(models, "Priority", {"enum": ["low", "normal", "high"], "type": "string"})


def test_the_priorities_of_tickets_and_of_tasks_are_documented_apart(app):
    schemas = app.openapi()["components"]["schemas"]
    assert schemas["TicketPriority"]["enum"] == ["low", "medium", "high", "critical"]
    assert schemas["TaskPriority"]["enum"] == ["low", "normal", "high"]
