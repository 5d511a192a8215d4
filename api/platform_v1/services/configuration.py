"""Settings and secrets, platform-wide (scope ``platform``) and per workspace (scope ``workspace:<id>``).

Settings are one JSON object per scope, replaced whole (or, a workspace's, merge-patched), versioned
(``ETag``/``If-Match``); a workspace's typed keys are validated (``models.platform_v1.workspace_settings``). Secrets are
sealed with ``CAPSTAN_SECRETS_KEY`` (refused with 503 without one) and never read back: lists show the
keys, when each was set and by whom. Every set or rotation is an event (``GET /api/v1/audit-credentials``).

Writes flush and return what they wrote; their caller commits (a route, with its answer stored under its
``Idempotency-Key`` in the same transaction).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from sqlalchemy import Integer, cast, func
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from api.common.errors import BadRequest, ServiceUnavailable
from api.common.pagination import ListPage, Sort, SortFields, SortOrder, list_page
from api.platform_v1.caller import Caller
from api.platform_v1.services.resources import PreconditionFailed, if_match_holds
from capstan.secrets import SecretBox
from integrations.stores.platform_secrets import PLATFORM_SCOPE, WORKSPACE_SCOPE_PREFIX, workspace_secret_scope
from models.common.base import utcnow
from models.platform_v1.changes import merge_patch
from models.platform_v1.contracts import (
    CredentialEventPublic,
    ScopeName,
    SecretAction,
    SecretPublic,
    SecretWritten,
    SettingsPublic,
)
from models.platform_v1.tables import SecretEventRow, SecretRow, SettingsRow
from models.platform_v1.workspace_settings import settings_errors

PLATFORM = PLATFORM_SCOPE
WORKSPACE_PREFIX = WORKSPACE_SCOPE_PREFIX
SECRET_SORTS = SortFields(columns={"key": SecretRow.key, "createdAt": SecretRow.created_at,
                                   "updatedAt": SecretRow.updated_at}, default_by="key")
#: Who set which secret: newest first; ``at`` ties (one transaction) go by sequence.
CREDENTIAL_EVENT_SORTS = SortFields(columns={"at": SecretEventRow.at, "key": SecretEventRow.key}, default_by="at",
                                    default_order=SortOrder.DESC)


def _in_order(sort: Sort, column: Any) -> Any:
    return col(column).desc() if sort.order == SortOrder.DESC else col(column).asc()


def scope_of(caller: Caller, platform: bool) -> str:
    return PLATFORM if platform else workspace_scope(caller.tenant)


def workspace_scope(workspace_id: str) -> str:
    return workspace_secret_scope(workspace_id)


def _scope_view(scope: str) -> tuple[ScopeName, str | None]:
    """``(scope, workspaceId)`` as the API names a stored scope."""
    if scope == PLATFORM:
        return "platform", None
    return "workspace", scope.removeprefix(WORKSPACE_PREFIX)


def _settings_view(scope: str, row: SettingsRow | None) -> SettingsPublic:
    name, workspace_id = _scope_view(scope)
    return SettingsPublic.model_construct(
        scope=name, workspaceId=workspace_id, settings=dict(row.settings) if row else {},
        version=row.version if row else 0, updatedAt=row.updated_at if row else None,
        updatedBy=row.updated_by if row else None)


def settings_etag(settings: SettingsPublic) -> str:
    return f'"{settings.version}"'


async def read_settings(db: AsyncSession, scope: str) -> SettingsPublic:
    return _settings_view(scope, await db.get(SettingsRow, scope))


async def write_settings(db: AsyncSession, caller: Caller, scope: str, settings: dict[str, Any],
                         if_match: str | None) -> SettingsPublic:
    """Replace the scope's settings (a new version unless they are the same), after ``If-Match`` (412)."""
    if scope != PLATFORM:
        checked_workspace_settings(settings)
    return await _change_settings(db, caller, scope, if_match, lambda current: settings)


async def patch_workspace_settings(db: AsyncSession, caller: Caller, scope: str, patch: dict[str, Any],
                                   if_match: str | None) -> SettingsPublic:
    """Apply a JSON merge patch (RFC 7386) to the workspace's settings, after ``If-Match`` (412): the keys it
    names change, every other key is kept; the result is validated as a PUT's settings are."""

    def patched(current: dict[str, Any]) -> dict[str, Any]:
        return checked_workspace_settings(merge_patch(current, patch))

    return await _change_settings(db, caller, scope, if_match, patched)


def checked_workspace_settings(settings: dict[str, Any]) -> dict[str, Any]:
    """``settings`` when the keys Capstan reads are valid (``models.platform_v1.workspace_settings``), else 400
    ``validation_error`` naming each bad value (``body.settings.ticketSla.resolutionMinutes.high``)."""
    errors = settings_errors(settings)
    if errors:
        fields = [{**error, "field": f"body.settings.{error['field']}"} for error in errors]
        summary = "; ".join(f"{field['field']}: {field['message']}" for field in fields[:5])
        raise BadRequest(f"invalid workspace settings: {summary}", code="validation_error", extra={"fields": fields})
    return settings


async def _change_settings(db: AsyncSession, caller: Caller, scope: str, if_match: str | None,
                           new_settings: Callable[[dict[str, Any]], dict[str, Any]]) -> SettingsPublic:
    """Lock the scope's row, check ``If-Match``, and store ``new_settings(current)`` as a new version unless
    they are the same."""
    # The scope's row exists before it is locked (version 0: no settings yet), so two first writes at
    # once are two versions, one after the other, not a duplicate key.
    await db.exec(insert(SettingsRow).values(scope=scope, settings={}, version=0, updated_at=utcnow())
                  .on_conflict_do_nothing())
    row = await db.get(SettingsRow, scope, with_for_update=True, populate_existing=True)
    assert row is not None, "the row inserted above"
    current = f'"{row.version}"'
    if not if_match_holds(if_match, current):
        raise PreconditionFailed(f"If-Match {if_match} is not the current version {current}: read it again")
    settings = new_settings(dict(row.settings))
    if row.version == 0 or row.settings != settings:
        row.settings, row.version, row.updated_by, row.updated_at = settings, row.version + 1, caller.actor, utcnow()
        db.add(row)
        await db.flush()
    return _settings_view(scope, row)


def _secret_fields(row: SecretRow) -> dict[str, Any]:
    name, workspace_id = _scope_view(row.scope)
    return {"key": row.key, "scope": name, "workspaceId": workspace_id, "createdAt": row.created_at,
            "createdBy": row.created_by, "updatedAt": row.updated_at, "updatedBy": row.updated_by}


def _event_view(row: SecretEventRow) -> CredentialEventPublic:
    name, workspace_id = _scope_view(row.scope)
    return CredentialEventPublic.model_construct(key=row.key, scope=name, workspaceId=workspace_id, action=row.action,
                                                 actor=row.actor, at=row.at, correlationId=row.correlation_id)


async def secret_page(db: AsyncSession, scope: str, limit: int, offset: int, sort: Sort) -> ListPage[SecretPublic]:
    listed = select(SecretRow).where(SecretRow.scope == scope)
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    ordered = SECRET_SORTS.apply(listed, sort, tiebreak=_in_order(sort, SecretRow.key))
    rows = (await db.exec(ordered.limit(limit).offset(offset))).all()
    secrets = [SecretPublic.model_construct(**_secret_fields(row)) for row in rows]
    return list_page(secrets, limit=limit, offset=offset, total=total, sort=sort)


async def set_secret(db: AsyncSession, caller: Caller, box: SecretBox, scope: str, key: str,
                     value: str) -> SecretWritten:
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
    action: SecretAction = "set" if created is not None else "rotated"
    row = await db.get(SecretRow, (scope, key), with_for_update=True, populate_existing=True)
    assert row is not None, "the row inserted above or before"
    if action == "rotated":
        row.sealed_value, row.updated_by, row.updated_at = sealed, caller.actor, now
        db.add(row)
    db.add(SecretEventRow(scope=scope, key=key, action=action, actor=caller.actor,
                          correlation_id=caller.correlation_id, at=now))
    await db.flush()
    return SecretWritten.model_construct(**_secret_fields(row), action=action)


async def credential_events(db: AsyncSession, limit: int, offset: int, sort: Sort, *, scope: str | None,
                            key: str | None, echoed: Mapping[str, Any]) -> ListPage[CredentialEventPublic]:
    """Set and rotation events of one scope's secrets (``None``: every scope's), or of one key; ``echoed`` are
    the filters the request set, for the envelope."""
    listed = select(SecretEventRow)
    if scope is not None:
        listed = listed.where(SecretEventRow.scope == scope)
    if key is not None:
        listed = listed.where(SecretEventRow.key == key)
    total = (await db.exec(select(cast(func.count(), Integer)).select_from(listed.subquery()))).one()
    ordered = CREDENTIAL_EVENT_SORTS.apply(listed, sort, tiebreak=_in_order(sort, SecretEventRow.seq))
    rows = (await db.exec(ordered.limit(limit).offset(offset))).all()
    return list_page([_event_view(row) for row in rows], limit=limit, offset=offset, total=total, sort=sort,
                     filters=echoed)
