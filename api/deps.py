"""Typed dependency aliases for routes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.auth import Principal, Scope, require_scope
from capstan.settings import Settings


async def _session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.sessions() as session:
        yield session


def _temporal(request: Request) -> Client:
    return request.app.state.temporal


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _principal(request: Request) -> Principal:
    return request.app.state.authenticator.authenticate(request)


def _reader(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
    require_scope(principal, Scope.PROTOCOLS_READ)
    return principal


def _writer(principal: Annotated[Principal, Depends(_principal)]) -> Principal:
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
