"""The platform API v1's services take typed inputs and return typed results: none imports FastAPI or
Starlette (no ``Request``, no ``Response``, no ``HTTPException``); the routes translate to HTTP."""

from __future__ import annotations

import ast
from pathlib import Path

SERVICES = Path(__file__).resolve().parents[3] / "api" / "platform_v1" / "services"
HTTP = ("fastapi", "starlette")


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_service_imports_http():
    modules = sorted(SERVICES.glob("*.py"))
    assert len(modules) > 3, f"no services found in {SERVICES}"
    speaking = {path.name: sorted(name for name in imported(path) if name.split(".")[0] in HTTP)
                for path in modules}
    assert not {name: found for name, found in speaking.items() if found}, speaking


def test_no_service_imports_a_route_or_the_request_machinery():
    """Of the surface, a service knows the typed caller and the other services: not the access check, the
    idempotency dependency or a route."""
    allowed = {"api.platform_v1.caller", *(f"api.platform_v1.services.{p.stem}" for p in SERVICES.glob("*.py"))}
    for path in sorted(SERVICES.glob("*.py")):
        reached = {name for name in imported(path) if name.startswith("api.platform_v1.")}
        assert reached <= allowed, f"{path.name}: {sorted(reached - allowed)}"
