"""The signed-in user's task config, credentials and provider keys, and their validation against the
provider's API. Secrets are stored sealed and never answered: only whether each is set and when it changed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.common.deps import SessionDep, SettingsDep
from api.common.errors import BadGateway, BadRequest, ServiceUnavailable
from api.common.openapi import json_body
from api.common.routing import route_per_method
from api.tasks.schemas import FlyConfigBody, ProviderCredentialsBody
from api.tasks.services.config import UserConfigStore
from api.tasks.session import SessionUser, SignedIn
from capstan.secrets import SecretsUnreadable
from integrations.providers import validate_anthropic
from integrations.runners.fly import validate_fly
from models.tasks.config import (
    ConfigBody,
    CredentialsBody,
    credentials_writes,
    fly_put,
    provider_writes,
    providers_answer,
    split_config_put,
)

router = APIRouter(tags=["tasks-config"])

AnyBody = Annotated[Any, Body()]
STORE_RESPONSES: dict[int | str, dict[str, Any]] = {503: {"description": "The config could not be stored"}}
ANTHROPIC_SECRET = "anthropic.ANTHROPIC_API_KEY"


def _store(request: Request, db: SessionDep, signed_in: SignedIn) -> UserConfigStore:
    return UserConfigStore(db, request.app.state.secret_box, signed_in.user.id)


def _checked(parse: Any, body: Any) -> Any:
    try:
        return parse(body)
    except ValueError as err:
        raise BadRequest(f"invalid config: {err}", code="invalid_config") from None


async def _commit(db: SessionDep) -> None:
    try:
        await db.commit()
    except SQLAlchemyError:
        await db.rollback()
        raise ServiceUnavailable("the config could not be stored; try again", code="config_store_failed") from None


@router.get("/api/config", summary="The user's config, secrets left empty, with secretStatus and warnings")
async def read_config(request: Request, signed_in: SessionUser, db: SessionDep, settings: SettingsDep) -> dict:
    return await _store(request, db, signed_in).public(settings)


@router.put("/api/config", responses=STORE_RESPONSES, openapi_extra=json_body(ConfigBody),
            summary="Replace the config; empty or missing secrets keep what is stored")
async def write_config(body: AnyBody, request: Request, signed_in: SessionUser, db: SessionDep,
                       settings: SettingsDep) -> dict:
    config, writes = _checked(split_config_put, body)
    store = _store(request, db, signed_in)
    await store.save_config(config)
    await store.write_secrets(writes)
    await _commit(db)
    return await store.public(settings)


@router.put("/api/config/credentials", responses=STORE_RESPONSES, openapi_extra=json_body(CredentialsBody),
            summary="Set or clear (\"\") the anthropic, openai and amp keys")
async def write_credentials(body: AnyBody, request: Request, signed_in: SessionUser, db: SessionDep) -> dict:
    writes = _checked(credentials_writes, body)
    store = _store(request, db, signed_in)
    await store.write_secrets(writes)
    await _commit(db)
    return {"ok": True, "secretStatus": await store.status()}


@router.get("/api/config/provider-credentials", summary="Which provider keys are set")
async def read_provider_credentials(request: Request, signed_in: SessionUser, db: SessionDep) -> dict:
    return (await _store(request, db, signed_in).status())["providerCredentials"]


@router.put("/api/config/provider-credentials", responses=STORE_RESPONSES,
            openapi_extra=json_body(ProviderCredentialsBody),
            summary="Set or delete (\"\") provider keys: {<provider>: {<ENV_KEY>: value}}")
async def write_provider_credentials(body: AnyBody, request: Request, signed_in: SessionUser,
                                     db: SessionDep) -> dict:
    writes = _checked(provider_writes, body)
    store = _store(request, db, signed_in)
    await store.write_secrets(writes)
    await _commit(db)
    return (await store.status())["providerCredentials"]


@router.put("/api/config/fly", responses=STORE_RESPONSES, openapi_extra=json_body(FlyConfigBody),
            summary="Set the Fly token and app (blank token keeps the stored one); optionally validate first")
async def write_fly(body: AnyBody, request: Request, signed_in: SessionUser, db: SessionDep,
                    settings: SettingsDep) -> dict:
    fly = _checked(fly_put, body)
    store = _store(request, db, signed_in)
    stored = await store.stored() or {}
    config = await store.config()
    token = fly["flyToken"] or await _opened(store.fly_token())
    app = fly["flyAppName"] if fly["flyAppName"] is not None else config.get("flyAppName") or ""
    mode = fly["setupMode"]
    if fly["validate"]:
        validation = await validate_fly(settings.tasks.fly_api_url, token, app or None, mode,
                                        timeout=settings.tasks.provider_timeout_seconds)
        if not validation.get("ok"):
            return {"flyToken": "", "flyAppName": app, "validation": validation, "setupMode": mode}
        app = validation.get("flyAppName") or app
    else:
        validation = {"ok": True, "status": "ready", "message": "Fly settings saved.", "appCreated": False,
                      "flyAppName": app, "mode": mode}
    await store.save_config({**stored, "flyAppName": app})
    if fly["flyToken"]:
        await store.write_secrets({"flyToken": fly["flyToken"]})
    await _commit(db)
    return {"flyToken": "", "flyAppName": app, "validation": validation, "setupMode": mode}


@router.get("/api/config/providers", summary="The model providers and the environment keys each reads")
async def list_providers(signed_in: SessionUser) -> dict:
    return providers_answer()


@route_per_method(router, "/api/config/validate/anthropic", ["POST", "GET"], responses={
    400: {"description": "`missing`: no Anthropic key is stored"},
    502: {"description": "`error`: Anthropic did not give a clear answer"}},
    summary="Check the stored Anthropic key against Anthropic's API (never echoes it)")
async def check_anthropic(request: Request, signed_in: SessionUser, db: SessionDep, settings: SettingsDep) -> dict:
    key = await _opened(_store(request, db, signed_in).secret(ANTHROPIC_SECRET))
    if not key:
        raise BadRequest("no Anthropic API key is stored: set credentials.anthropic first", code="missing",
                         extra={"ok": False, "status": "missing"})
    result = await validate_anthropic(settings.tasks.anthropic_api_url, key,
                                      timeout=settings.tasks.provider_timeout_seconds)
    if result.get("status") == "error":
        message = str(result.get("message") or "Anthropic did not answer the key check")
        raise BadGateway(message, code="error", extra=dict(result))
    return result


@route_per_method(router, "/api/config/validate/fly", ["POST", "GET"],
                  summary="Check the stored Fly token and app (mode org creates the app when it can)")
async def check_fly(request: Request, signed_in: SessionUser, db: SessionDep, settings: SettingsDep,
                    mode: Annotated[Literal["org", "deploy"], Query(description="org (default) or deploy")] = "org"
                    ) -> JSONResponse:
    store = _store(request, db, signed_in)
    token = await _opened(store.fly_token())
    app = (await store.config()).get("flyAppName") or None
    validation = await validate_fly(settings.tasks.fly_api_url, token, app, mode,
                                    timeout=settings.tasks.provider_timeout_seconds)
    if validation.get("ok") and validation.get("flyAppName") and validation.get("flyAppName") != app:
        await store.save_config({**(await store.stored() or {}), "flyAppName": validation["flyAppName"]})
        await _commit(db)
    return JSONResponse(validation)


async def _opened(value: Any) -> str | None:
    """An awaited secret; one the secrets key cannot open counts as not set."""
    try:
        return await value
    except SecretsUnreadable:
        return None

