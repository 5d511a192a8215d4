"""The signed-in user's task config, credentials and provider keys, and their validation against the
provider's API. Secrets are stored sealed and never answered: only whether each is set and when it changed."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request

from api.common.deps import SessionDep, SettingsDep
from api.common.errors import BadRequest
from api.common.openapi import json_body
from api.common.routing import route_per_method
from api.tasks.schemas import FlyConfigBody, ProviderCredentialsBody
from api.tasks.services.config import (
    UserConfigStore,
    check_anthropic_key,
    check_fly_setup,
    save_fly_setup,
)
from api.tasks.session import SessionUser, SignedIn
from models.tasks.config import (
    ConfigBody,
    CredentialsBody,
    credentials_writes,
    fly_put,
    provider_writes,
    split_config_put,
)
from models.tasks.config_views import (
    AnthropicValidation,
    CredentialsSaved,
    FlySetupPublic,
    FlyValidation,
    ModelProviders,
    ProviderCredentialStatus,
    TasksConfigPublic,
    providers_answer,
)

router = APIRouter(tags=["tasks-config"])

AnyBody = Annotated[Any, Body()]
STORE_RESPONSES: dict[int | str, dict[str, Any]] = {503: {"description": "The config could not be stored"}}


def _store(request: Request, db: SessionDep, signed_in: SignedIn) -> UserConfigStore:
    return UserConfigStore(db, request.app.state.secret_box, signed_in.user.id)


def _checked(parse: Any, body: Any) -> Any:
    try:
        return parse(body)
    except ValueError as err:
        raise BadRequest(f"invalid config: {err}", code="invalid_config") from None


@router.get("/api/config", response_model=TasksConfigPublic,
            summary="The user's config, secrets left empty, with secretStatus and warnings")
async def read_config(request: Request, signed_in: SessionUser, db: SessionDep,
                      settings: SettingsDep) -> TasksConfigPublic:
    return await _store(request, db, signed_in).public(settings)


@router.put("/api/config", response_model=TasksConfigPublic, responses=STORE_RESPONSES,
            openapi_extra=json_body(ConfigBody),
            summary="Replace the config; empty or missing secrets keep what is stored")
async def write_config(body: AnyBody, request: Request, signed_in: SessionUser, db: SessionDep,
                       settings: SettingsDep) -> TasksConfigPublic:
    config, writes = _checked(split_config_put, body)
    store = _store(request, db, signed_in)
    await store.save_config(config)
    await store.write_secrets(writes)
    await store.commit()
    return await store.public(settings)


@router.put("/api/config/credentials", response_model=CredentialsSaved, responses=STORE_RESPONSES,
            openapi_extra=json_body(CredentialsBody), summary="Set or clear (\"\") the anthropic, openai and amp keys")
async def write_credentials(body: AnyBody, request: Request, signed_in: SessionUser,
                            db: SessionDep) -> CredentialsSaved:
    writes = _checked(credentials_writes, body)
    store = _store(request, db, signed_in)
    await store.write_secrets(writes)
    await store.commit()
    return CredentialsSaved(ok=True, secretStatus=await store.status())


@router.get("/api/config/provider-credentials", response_model=ProviderCredentialStatus,
            summary="Which provider keys are set")
async def read_provider_credentials(request: Request, signed_in: SessionUser,
                                    db: SessionDep) -> ProviderCredentialStatus:
    return (await _store(request, db, signed_in).status()).providerCredentials


@router.put("/api/config/provider-credentials", response_model=ProviderCredentialStatus, responses=STORE_RESPONSES,
            openapi_extra=json_body(ProviderCredentialsBody),
            summary="Set or delete (\"\") provider keys: {<provider>: {<ENV_KEY>: value}}")
async def write_provider_credentials(body: AnyBody, request: Request, signed_in: SessionUser,
                                     db: SessionDep) -> ProviderCredentialStatus:
    writes = _checked(provider_writes, body)
    store = _store(request, db, signed_in)
    await store.write_secrets(writes)
    await store.commit()
    return (await store.status()).providerCredentials


@router.put("/api/config/fly", response_model=FlySetupPublic, responses=STORE_RESPONSES,
            openapi_extra=json_body(FlyConfigBody),
            summary="Set the Fly token and app (blank token keeps the stored one); optionally validate first")
async def write_fly(body: AnyBody, request: Request, signed_in: SessionUser, db: SessionDep,
                    settings: SettingsDep) -> FlySetupPublic:
    return await save_fly_setup(_store(request, db, signed_in), settings, _checked(fly_put, body))


@router.get("/api/config/providers", response_model=ModelProviders,
            summary="The model providers and the environment keys each reads")
async def list_providers(signed_in: SessionUser) -> ModelProviders:
    return providers_answer()


@route_per_method(router, "/api/config/validate/anthropic", ["POST", "GET"], response_model=AnthropicValidation,
                  responses={400: {"description": "`missing`: no Anthropic key is stored"},
                             502: {"description": "`error`: Anthropic did not give a clear answer"}},
                  summary="Check the stored Anthropic key against Anthropic's API (never echoes it)")
async def check_anthropic(request: Request, signed_in: SessionUser, db: SessionDep,
                          settings: SettingsDep) -> AnthropicValidation:
    return await check_anthropic_key(_store(request, db, signed_in), settings)


@route_per_method(router, "/api/config/validate/fly", ["POST", "GET"], response_model=FlyValidation,
                  summary="Check the stored Fly token and app (mode org creates the app when it can)")
async def check_fly(request: Request, signed_in: SessionUser, db: SessionDep, settings: SettingsDep,
                    mode: Annotated[Literal["org", "deploy"], Query(description="org (default) or deploy")] = "org"
                    ) -> FlyValidation:
    return await check_fly_setup(_store(request, db, signed_in), settings, mode)
