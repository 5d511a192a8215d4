"""Platform and workspace settings and secrets, and the audit of who set which secret when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response

from api.common.deps import SessionDep
from api.common.errors import BadRequest
from api.common.pagination import Limit, ListPage, Offset, Sort
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.configuration import (
    CREDENTIAL_EVENT_SORTS,
    PLATFORM,
    SECRET_SORTS,
    credential_events,
    patch_workspace_settings,
    read_settings,
    scope_of,
    secret_page,
    set_secret,
    settings_etag,
    workspace_scope,
    write_settings,
)
from models.platform_v1.contracts import (
    CredentialEventPublic,
    SecretBody,
    SecretPublic,
    SecretWritten,
    SettingsBody,
    SettingsPatchBody,
    SettingsPublic,
)

router = APIRouter(tags=["settings"])

SecretKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
                                description="The secret's name: letters, digits, `_`, `.`, `-`; at most 128.")]
IfMatch = Annotated[str | None, Header(description="The ETag the change is based on; 412 when it is stale.")]
SETTINGS_RESPONSES: dict[int | str, dict[str, Any]] = {
    412: {"description": "`precondition_failed`: `If-Match` is not the current ETag"}}
SECRET_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": SecretWritten, "description": "Rotated: the key had a value"},
    503: {"description": "`secrets_key_missing`: CAPSTAN_SECRETS_KEY is not set"}}


def settings_answer(settings: SettingsPublic) -> Response:
    return json_answer(settings, headers={"ETag": settings_etag(settings)})


def secret_answer(written: SecretWritten) -> Response:
    return json_answer(written, status_code=201 if written.action == "set" else 200)


@platform_route(router, "GET", f"{V1}/platform/settings", summary="The platform's settings",
                response_model=SettingsPublic)
async def get_platform_settings(caller: CallerDep, db: SessionDep) -> Response:
    return settings_answer(await read_settings(db, PLATFORM))


@platform_route(router, "PUT", f"{V1}/platform/settings", summary="Replace the platform's settings",
                responses=SETTINGS_RESPONSES, response_model=SettingsPublic)
async def put_platform_settings(body: SettingsBody, caller: CallerDep, key: KeyDep, db: SessionDep,
                                if_match: IfMatch = None) -> Response:
    written = await write_settings(db, caller, PLATFORM, body.settings, if_match)
    return await key.commit(db, settings_answer(written))


@platform_route(router, "GET", f"{V1}/platform/secrets", summary="The platform's secrets: keys and times, no values",
                response_model=ListPage[SecretPublic])
async def get_platform_secrets(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                               sort: Sort = Depends(SECRET_SORTS.dependency())) -> Response:
    return json_answer(await secret_page(db, PLATFORM, limit, offset, sort))


@platform_route(router, "POST", f"{V1}/platform/secrets/{{key}}", summary="Set or rotate a platform secret",
                status_code=201, responses=SECRET_RESPONSES, response_model=SecretWritten)
async def post_platform_secret(key: SecretKey, body: SecretBody, request: Request, caller: CallerDep,
                               idempotency: KeyDep, db: SessionDep) -> Response:
    written = await set_secret(db, caller, request.app.state.secret_box, PLATFORM, key, body.value)
    return await idempotency.commit(db, secret_answer(written))


@platform_route(router, "GET", f"{V1}/workspace/settings", summary="The workspace's settings",
                response_model=SettingsPublic)
async def get_workspace_settings(caller: CallerDep, db: SessionDep) -> Response:
    return settings_answer(await read_settings(db, scope_of(caller, platform=False)))


@platform_route(router, "PUT", f"{V1}/workspace/settings", summary="Replace the workspace's settings",
                description="Four keys are validated (`ticketSla`, `edgeAgent`, `integrations.accounting`, "
                            "`integrations.notifications`; 400 `validation_error` with the value's path); every "
                            "other key is free-form.",
                responses=SETTINGS_RESPONSES, response_model=SettingsPublic)
async def put_workspace_settings(body: SettingsBody, caller: CallerDep, key: KeyDep, db: SessionDep,
                                 if_match: IfMatch = None) -> Response:
    written = await write_settings(db, caller, scope_of(caller, platform=False), body.settings, if_match)
    return await key.commit(db, settings_answer(written))


@platform_route(router, "PATCH", f"{V1}/workspace/settings",
                summary="Change keys of the workspace's settings (JSON merge patch)",
                description="The body is `{\"settings\": <JSON merge patch, RFC 7386>}`: a key given replaces "
                            "(objects merge key by key), `null` removes it, every other key is kept, so changing "
                            "one key cannot clobber another (the adapters', the SLA's). Versioned as `PUT` is.",
                responses=SETTINGS_RESPONSES, response_model=SettingsPublic)
async def patch_workspace_settings_route(body: SettingsPatchBody, caller: CallerDep, key: KeyDep, db: SessionDep,
                                         if_match: IfMatch = None) -> Response:
    written = await patch_workspace_settings(db, caller, scope_of(caller, platform=False), body.settings, if_match)
    return await key.commit(db, settings_answer(written))


@platform_route(router, "GET", f"{V1}/workspace/secrets", summary="The workspace's secrets: keys and times, no values",
                response_model=ListPage[SecretPublic])
async def get_workspace_secrets(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                                sort: Sort = Depends(SECRET_SORTS.dependency())) -> Response:
    return json_answer(await secret_page(db, scope_of(caller, platform=False), limit, offset, sort))


@platform_route(router, "POST", f"{V1}/workspace/secrets/{{key}}", summary="Set or rotate a workspace secret",
                status_code=201, responses=SECRET_RESPONSES, response_model=SecretWritten)
async def post_workspace_secret(key: SecretKey, body: SecretBody, request: Request, caller: CallerDep,
                                idempotency: KeyDep, db: SessionDep) -> Response:
    written = await set_secret(db, caller, request.app.state.secret_box, scope_of(caller, platform=False), key,
                               body.value)
    return await idempotency.commit(db, secret_answer(written))


CredentialKey = Annotated[str | None, Query(min_length=1, max_length=128, description="Only this secret.")]


@platform_route(router, "GET", f"{V1}/audit-credentials",
                summary="Who set or rotated which secret, and when (never a value), newest first",
                response_model=ListPage[CredentialEventPublic])
async def get_audit_credentials(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                                sort: Sort = Depends(CREDENTIAL_EVENT_SORTS.dependency()),
                                workspace_id: Annotated[str | None, Query(
                                    alias="workspaceId", min_length=1, max_length=64,
                                    description="Only this workspace's secrets.")] = None,
                                platform: Annotated[bool, Query(description="Only the platform's secrets.")] = False,
                                key: CredentialKey = None) -> Response:
    if platform and workspace_id is not None:
        conflict = {"field": "query.workspaceId", "message": "not with platform=true", "type": "value_error"}
        raise BadRequest("platform=true and workspaceId ask for two different sets of secrets: send one",
                         code="validation_error", extra={"fields": [conflict]})
    scope = PLATFORM if platform else workspace_scope(workspace_id) if workspace_id is not None else None
    echoed = {"workspaceId": workspace_id, "platform": True if platform else None, "key": key}
    return json_answer(await credential_events(db, limit, offset, sort, scope=scope, key=key, echoed=echoed))


@platform_route(router, "GET", f"{V1}/workspace/audit-credentials",
                summary="Who set or rotated which of the workspace's secrets, and when (never a value), newest first",
                response_model=ListPage[CredentialEventPublic])
async def get_workspace_audit_credentials(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                                          sort: Sort = Depends(CREDENTIAL_EVENT_SORTS.dependency()),
                                          key: CredentialKey = None) -> Response:
    return json_answer(await credential_events(db, limit, offset, sort, scope=scope_of(caller, platform=False),
                                               key=key, echoed={"key": key}))
