"""Platform and workspace settings and secrets, and the audit of who set which secret when."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.common.deps import SessionDep
from api.common.errors import BadRequest
from api.common.pagination import Limit, Offset, Sort
from api.platform_v1.access import V1, CallerDep, platform_route
from api.platform_v1.services.configuration import (
    CREDENTIAL_EVENT_SORTS,
    PLATFORM,
    SECRET_SORTS,
    credential_events,
    read_settings,
    scope_of,
    secret_page,
    set_secret,
    write_settings,
)

router = APIRouter(tags=["settings"])

SecretKey = Annotated[str, Path(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$",
                                description="The secret's name: letters, digits, `_`, `.`, `-`; at most 128.")]
IfMatch = Annotated[str | None, Header(description="The ETag the change is based on; 412 when it is stale.")]
SETTINGS_RESPONSES: dict[int | str, dict[str, Any]] = {
    412: {"description": "`precondition_failed`: `If-Match` is not the current ETag"}}
SECRET_RESPONSES: dict[int | str, dict[str, Any]] = {
    503: {"description": "`secrets_key_missing`: CAPSTAN_SECRETS_KEY is not set"}}


class SettingsBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    settings: dict[str, Any] = Field(description="The whole settings object (it replaces the stored one).")


class SecretBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    value: str = Field(min_length=1, max_length=8192, description="The secret; never shown again.")


@platform_route(router, "GET", f"{V1}/platform/settings", summary="The platform's settings")
async def get_platform_settings(caller: CallerDep, db: SessionDep) -> Response:
    return await read_settings(db, PLATFORM)


@platform_route(router, "PUT", f"{V1}/platform/settings", summary="Replace the platform's settings",
                responses=SETTINGS_RESPONSES)
async def put_platform_settings(body: SettingsBody, request: Request, caller: CallerDep, db: SessionDep,
                                if_match: IfMatch = None) -> Response:
    return await write_settings(db, request, caller, PLATFORM, body.settings, if_match)


@platform_route(router, "GET", f"{V1}/platform/secrets", summary="The platform's secrets: keys and times, no values")
async def get_platform_secrets(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                               sort: Sort = Depends(SECRET_SORTS.dependency())) -> dict:
    return await secret_page(db, PLATFORM, limit, offset, sort)


@platform_route(router, "POST", f"{V1}/platform/secrets/{{key}}", summary="Set or rotate a platform secret",
                status_code=201, responses={**SECRET_RESPONSES, 200: {"description": "Rotated: the key had a value"}})
async def post_platform_secret(key: SecretKey, body: SecretBody, request: Request, caller: CallerDep,
                               db: SessionDep) -> Response:
    return await set_secret(db, request, caller, request.app.state.secret_box, PLATFORM, key, body.value)


@platform_route(router, "GET", f"{V1}/workspace/settings", summary="The workspace's settings")
async def get_workspace_settings(caller: CallerDep, db: SessionDep) -> Response:
    return await read_settings(db, scope_of(caller, platform=False))


@platform_route(router, "PUT", f"{V1}/workspace/settings", summary="Replace the workspace's settings",
                responses=SETTINGS_RESPONSES)
async def put_workspace_settings(body: SettingsBody, request: Request, caller: CallerDep, db: SessionDep,
                                 if_match: IfMatch = None) -> Response:
    return await write_settings(db, request, caller, scope_of(caller, platform=False), body.settings, if_match)


@platform_route(router, "GET", f"{V1}/workspace/secrets", summary="The workspace's secrets: keys and times, no values")
async def get_workspace_secrets(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                                sort: Sort = Depends(SECRET_SORTS.dependency())) -> dict:
    return await secret_page(db, scope_of(caller, platform=False), limit, offset, sort)


@platform_route(router, "POST", f"{V1}/workspace/secrets/{{key}}", summary="Set or rotate a workspace secret",
                status_code=201, responses={**SECRET_RESPONSES, 200: {"description": "Rotated: the key had a value"}})
async def post_workspace_secret(key: SecretKey, body: SecretBody, request: Request, caller: CallerDep,
                                db: SessionDep) -> Response:
    return await set_secret(db, request, caller, request.app.state.secret_box, scope_of(caller, platform=False), key,
                            body.value)


@platform_route(router, "GET", f"{V1}/audit-credentials",
                summary="Who set or rotated which secret, and when (never a value), newest first")
async def get_audit_credentials(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                                sort: Sort = Depends(CREDENTIAL_EVENT_SORTS.dependency()),
                                workspace_id: Annotated[str | None, Query(
                                    alias="workspaceId", min_length=1, max_length=64,
                                    description="Only this workspace's secrets.")] = None,
                                platform: Annotated[bool, Query(description="Only the platform's secrets.")] = False,
                                key: Annotated[str | None, Query(min_length=1, max_length=128,
                                                                 description="Only this secret.")] = None) -> dict:
    if platform and workspace_id is not None:
        conflict = {"field": "query.workspaceId", "message": "not with platform=true", "type": "value_error"}
        raise BadRequest("platform=true and workspaceId ask for two different sets of secrets: send one",
                         code="validation_error", extra={"fields": [conflict]})
    return await credential_events(db, limit, offset, sort, workspace_id=workspace_id, platform=platform, key=key)
