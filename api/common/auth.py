"""Authentication: pluggable schemes produce a ``Principal``; routes declare the scope they need.

The first scheme is static bearer tokens from settings. When no scheme is
configured the API is open, as the original API documents, and every request acts as
the anonymous principal with every scope.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from fastapi import Request

from api.common.errors import Forbidden, Unauthorized


class Scope(StrEnum):
    PROTOCOLS_READ = "protocols:read"
    PROTOCOLS_WRITE = "protocols:write"


ALL_SCOPES = frozenset(Scope)


@dataclass(frozen=True)
class Principal:
    subject: str
    scheme: str
    roles: frozenset[str] = field(default_factory=frozenset)
    scopes: frozenset[str] = field(default_factory=frozenset)
    #: The workspaces (tenants) it may act in; ``any_workspace``: every one.
    workspaces: frozenset[str] = field(default_factory=frozenset)
    any_workspace: bool = False

    def may_act_in(self, workspace_id: str) -> bool:
        return self.any_workspace or workspace_id in self.workspaces


ANONYMOUS = Principal(subject="anonymous", scheme="open", roles=frozenset({"admin"}), scopes=ALL_SCOPES)
#: Where the request gate leaves the principal it authenticated, for the route's dependencies.
PRINCIPAL_SCOPE_KEY = "capstan.principal"


def secrets_equal(given: str, expected: str) -> bool:
    """Constant-time comparison of two secrets."""
    return hmac.compare_digest(given.encode(), expected.encode())


def bearer_token(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthorized("Authorization header must be 'Bearer <token>'", headers={"WWW-Authenticate": "Bearer"})
    return token.strip()


class AuthScheme(Protocol):
    name: str

    def authenticate(self, request: Request) -> Principal | None:
        """A principal, ``None`` when the request carries no credentials for this scheme,
        or ``Unauthorized`` when it carries wrong ones."""


class StaticBearerTokens:
    name = "static-token"

    def __init__(self, tokens: dict[str, Principal]) -> None:
        self._tokens = list(tokens.items())

    def authenticate(self, request: Request) -> Principal | None:
        token = bearer_token(request)
        if token is None:
            return None
        match = None
        for expected, principal in self._tokens:  # compare with every token: no early exit
            if secrets_equal(token, expected):
                match = principal
        if match is None:
            raise Unauthorized("invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
        return match


class Authenticator:
    def __init__(self, schemes: list[AuthScheme]) -> None:
        self.schemes = schemes

    def authenticate(self, request: Request) -> Principal:
        if not self.schemes:
            return ANONYMOUS
        for scheme in self.schemes:
            principal = scheme.authenticate(request)
            if principal is not None:
                return principal
        raise Unauthorized("authentication required", headers={"WWW-Authenticate": "Bearer"})


def authenticator_from_token(api_token: str | None) -> Authenticator:
    if not api_token:
        return Authenticator([])
    admin = Principal(subject="api-token", scheme=StaticBearerTokens.name, roles=frozenset({"admin"}),
                      scopes=ALL_SCOPES)
    return Authenticator([StaticBearerTokens({api_token: admin})])


def require_scope(principal: Principal, scope: Scope) -> None:
    if scope not in principal.scopes:
        raise Forbidden(f"missing scope {scope}")

