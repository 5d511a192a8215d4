"""Typed dependency aliases for routes.

Every dependency is ``async def``, even where it awaits nothing: FastAPI runs a
plain ``def`` dependency in a worker thread, and those hops cost more than the
dependency itself on every request.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common.auth import PRINCIPAL_SCOPE_KEY, Principal, Scope, require_scope
from api.common.errors import ServiceUnavailable, Unauthorized
from api.common.openapi import BEARER, authenticated_by, raises
from capstan.settings import Settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


@raises(ServiceUnavailable)
async def _temporal(request: Request) -> Client:
    return request.app.state.temporal


async def _settings(request: Request) -> Settings:
    return request.app.state.settings


@raises(Unauthorized)
@authenticated_by(BEARER)
async def _principal(request: Request) -> Principal:
    """The principal the request gate authenticated before the body was read (``api.common.gates``);
    a route reached without one (a gate that does not authenticate) authenticates here."""
    principal = request.scope.get(PRINCIPAL_SCOPE_KEY)
    return principal if principal is not None else request.app.state.authenticator.authenticate(request)


async def _reader(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    require_scope(principal, Scope.PROTOCOLS_READ)
    return principal


async def _writer(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    require_scope(principal, Scope.PROTOCOLS_WRITE)
    return principal


SessionDep = Annotated[AsyncSession, Depends(_session)]
TemporalDep = Annotated[Client, Depends(_temporal)]
SettingsDep = Annotated[Settings, Depends(_settings)]
PrincipalDep = Annotated[Principal, Depends(_principal)]
#: Routes that read orchestrator records.
ReaderDep = Annotated[Principal, Depends(_reader)]
#: Routes that change orchestrator records or start work.
WriterDep = Annotated[Principal, Depends(_writer)]

