"""Settings and secrets, platform-wide (scope ``platform``) and per workspace (scope ``workspace:<id>``).

Settings are one JSON object per scope, replaced whole, versioned (``ETag``/``If-Match``). Secrets are
sealed with ``CAPSTAN_SECRETS_KEY`` (refused with 503 without one) and never read back: lists show the
keys, when each was set and by whom. Every set or rotation is an event (``GET /api/v1/audit-credentials``).
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from sqlalchemy import Integer, cast, func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import ServiceUnavailable
from api.common.pagination import Sort, SortFields, SortOrder, list_page
from api.platform_v1.access import Caller
from api.platform_v1.idempotency import store_response
from api.platform_v1.services.resources import PreconditionFailed, if_match_holds
from capstan.secrets import SecretBox
from models.common.base import iso_z, utcnow
from models.platform_v1.tables import SecretEventRow, SecretRow, SettingsRow

PLATFORM = "platform"
WORKSPACE_PREFIX = "workspace:"
SECRET_SORTS = SortFields(columns={"key": SecretRow.key, "createdAt": SecretRow.created_at,
                                   "updatedAt": SecretRow.updated_at}, default_by="key")
#: Who set which secret: newest first; ``at`` ties (one transaction) go by sequence.
CREDENTIAL_EVENT_SORTS = SortFields(columns={"at": SecretEventRow.at, "key": SecretEventRow.key}, default_by="at",
                                    default_order=SortOrder.DESC)


def _in_order(sort: Sort, column: Any) -> Any:
    return col(column).desc() if sort.order == SortOrder.DESC else col(column).asc()


def scope_of(caller: Caller, platform: bool) -> str:
    return PLATFORM if platform else f"{WORKSPACE_PREFIX}{caller.tenant}"



def _scope_view(scope: str) -> dict[str, Any]:
    if scope == PLATFORM:
        return {"scope": "platform", "workspaceId": None}
    return {"scope": "workspace", "workspaceId": scope.removeprefix(WORKSPACE_PREFIX)}


def _settings_view(scope: str, row: SettingsRow | None) -> dict[str, Any]:
    return {**_scope_view(scope), "settings": dict(row.settings) if row else {}, "version": row.version if row else 0,
            "updatedAt": iso_z(row.updated_at) if row else None, "updatedBy": row.updated_by if row else None}


def _etag(version: int) -> str:
    return f'"{version}"'


async def read_settings(db: AsyncSession, scope: str) -> JSONResponse:
    row = await db.get(SettingsRow, scope)
    return JSONResponse(_settings_view(scope, row), headers={"ETag": _etag(row.version if row else 0)})


async def write_settings(db: AsyncSession, request: Request, caller: Caller, scope: str, settings: dict[str, Any],
                         if_match: str | None) -> JSONResponse:
    # The scope's row exists before it is locked (version 0: no settings yet), so two first writes at
    # once are two versions, one after the other, not a duplicate key.
    await db.exec(insert(SettingsRow).values(scope=scope, settings={}, version=0, updated_at=utcnow())
                  .on_conflict_do_nothing())
    row = await db.get(SettingsRow, scope, with_for_update=True, populate_existing=True)
    assert row is not None, "the row inserted above"
    if not if_match_holds(if_match, _etag(row.version)):
        raise PreconditionFailed(f"If-Match {if_match} is not the current version {_etag(row.version)}: read it again")
    if row.version == 0 or row.settings != settings:
        row.settings, row.version, row.updated_by, row.updated_at = settings, row.version + 1, caller.actor, utcnow()
        db.add(row)
        await db.flush()
    response = JSONResponse(_settings_view(scope, row), headers={"ETag": _etag(row.version)})
    await store_response(db, request, response)
    await db.commit()
    return response


def _secret_view(row: SecretRow) -> dict[str, Any]:
    return {"key": row.key, **_scope_view(row.scope), "createdAt": iso_z(row.created_at), "createdBy": row.created_by,
            "updatedAt": iso_z(row.updated_at), "updatedBy": row.updated_by}


async def secret_page(db: AsyncSession, scope: str, limit: int, offset: int, sort: Sort) -> dict[str, Any]:
    listed = select(SecretRow).where(SecretRow.scope == scope)
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    ordered = SECRET_SORTS.apply(listed, sort, tiebreak=_in_order(sort, SecretRow.key))
    rows = (await db.exec(ordered.limit(limit).offset(offset))).all()
    return list_page([_secret_view(row) for row in rows], limit=limit, offset=offset, total=total,
                     sort=sort).model_dump(mode="json")


async def set_secret(db: AsyncSession, request: Request, caller: Caller, box: SecretBox, scope: str, key: str,
                     value: str) -> JSONResponse:
    """Seal and store ``value`` under ``key``: ``set`` the first time, ``rotated`` after."""
    if not box.encrypts:
        raise ServiceUnavailable("CAPSTAN_SECRETS_KEY is not set: secrets cannot be stored sealed",
                                 code="secrets_key_missing")
    now = utcnow()
    sealed = box.seal_value(value)
    # Insert, or rotate the row a first set (maybe one running now) made: never a duplicate key.
    created = (await db.exec(insert(SecretRow).values(
        scope=scope, key=key, sealed_value=sealed, created_by=caller.actor, updated_by=caller.actor, created_at=now,
        updated_at=now).on_conflict_do_nothing().returning(col(SecretRow.key)))).first()
    action = "set" if created is not None else "rotated"
    row = await db.get(SecretRow, (scope, key), with_for_update=True, populate_existing=True)
    assert row is not None, "the row inserted above or before"
    if action == "rotated":
        row.sealed_value, row.updated_by, row.updated_at = sealed, caller.actor, now
        db.add(row)
    db.add(SecretEventRow(scope=scope, key=key, action=action, actor=caller.actor,
                          correlation_id=caller.correlation_id, at=now))
    await db.flush()
    response = JSONResponse({**_secret_view(row), "action": action}, status_code=201 if action == "set" else 200)
    await store_response(db, request, response)
    await db.commit()
    return response


async def credential_events(db: AsyncSession, limit: int, offset: int, sort: Sort, *, workspace_id: str | None,
                            platform: bool, key: str | None) -> dict[str, Any]:
    """Set and rotation events, all or of the platform's secrets, one workspace's, one key's."""
    listed = select(SecretEventRow)
    if platform:
        listed = listed.where(SecretEventRow.scope == PLATFORM)
    if workspace_id is not None:
        listed = listed.where(SecretEventRow.scope == f"{WORKSPACE_PREFIX}{workspace_id}")
    if key is not None:
        listed = listed.where(SecretEventRow.key == key)
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    ordered = CREDENTIAL_EVENT_SORTS.apply(listed, sort, tiebreak=_in_order(sort, SecretEventRow.seq))
    rows = (await db.exec(ordered.limit(limit).offset(offset))).all()
    data = [{"key": row.key, **_scope_view(row.scope), "action": row.action, "actor": row.actor, "at": iso_z(row.at),
             "correlationId": row.correlation_id} for row in rows]
    filters = {"workspaceId": workspace_id, "platform": True if platform else None, "key": key}
    return list_page(data, limit=limit, offset=offset, total=total, sort=sort,
                     filters=filters).model_dump(mode="json")
