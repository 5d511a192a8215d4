"""Request gates: the credentials a path needs, checked before its body is read.

The request guard (``api.common.middleware``) looks the request's path up in a ``GateTable`` and runs
that gate before it reads a byte of the body, so a request without valid credentials is a 401
whatever its body holds. A path no prefix names gets the table's default, the bearer token:
a new route is guarded unless its surface declares otherwise.

- ``BearerToken``: the app's authenticator (``api.common.auth``); the principal it returns is left in
  the scope for the route's dependencies, which check scopes.
- ``Public``: no credentials (health, metrics, the OpenAPI document and its viewers).
- ``SignedWebhook``: the route verifies a signature over the body, so nothing can be checked
  before the body is read; the body still goes through the strict JSON reader first.

A gate may also define ``verify_body(request, body)``: the guard calls it with the raw body once it
is read, before the JSON reader, so a signature over the body is checked before anything else looks
at it (a badly signed delivery is a 401 whatever its body holds).

Each surface declares the gates of its paths (``api.common.surface.ApiSurface.gates``); a new
surface with other credentials (an admin token, JWTs, another signed webhook) adds a ``Gate``
under its own prefix.
"""

from __future__ import annotations

from collections.abc import Awaitable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from fastapi import FastAPI, Request

from api.common.auth import Principal


class Gate(Protocol):
    name: str

    def check(self, request: Request) -> Principal | None | Awaitable[Principal | None]:
        """The authenticated principal, ``None`` when the gate authenticates nobody, or an
        ``ApiError`` (401) raised when the credentials are missing or wrong. May be a coroutine."""


class BearerToken:
    name = "bearer"

    def check(self, request: Request) -> Principal | None:
        return request.app.state.authenticator.authenticate(request)


class Public:
    name = "public"

    def check(self, request: Request) -> Principal | None:
        return None


class SignedWebhook:
    name = "signed-webhook"

    def check(self, request: Request) -> Principal | None:
        return None


@dataclass(frozen=True)
class GateTable:
    """Gates by path prefix, matched on whole segments (``/health`` covers ``/health/x``, not
    ``/healthz``); the longest prefix wins."""

    default: Gate
    prefixes: Mapping[str, Gate] = field(default_factory=dict)

    def gate_for(self, path: str) -> Gate:
        best, best_length = self.default, -1
        for prefix, gate in self.prefixes.items():
            stem = prefix.rstrip("/")
            if (path == prefix or path == stem or path.startswith(stem + "/")) and len(stem) > best_length:
                best, best_length = gate, len(stem)
        return best


def capstan_gates(app: FastAPI, surface_gates: Iterable[Mapping[str, Gate]], viewers: Iterable[str] = ()) -> GateTable:
    """The app's gate table: its OpenAPI document and the ``viewers`` of it (with everything under them)
    are public, each surface adds the gates it declares (``ApiSurface.gates``), and every other path needs
    the bearer token."""
    documents = [app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url, *viewers]
    prefixes: dict[str, Gate] = {path: Public() for path in documents if path}
    for gates in surface_gates:
        if clash := prefixes.keys() & gates.keys():
            raise ValueError(f"two surfaces declare a gate for {', '.join(sorted(clash))}")
        prefixes.update(gates)
    return GateTable(default=BearerToken(), prefixes=prefixes)
