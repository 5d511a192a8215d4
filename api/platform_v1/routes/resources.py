"""``/api/v1/{resource}`` for every resource of the catalog: list, read, create, replace, merge-patch,
delete, and the audit trail of one record. Every route acts in the caller's workspace
(``x-workspace-id``) and every mutation needs an ``Idempotency-Key``."""

from __future__ import annotations

import enum
import typing
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response
from pydantic import RootModel

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import BadRequest
from api.common.openapi import json_body
from api.common.pagination import Limit, ListPage, Offset, Sort
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.outbox import nudge_relay
from api.platform_v1.services.resources import AUDIT_SORTS, ListQuery, ResourceStore, etag, sort_fields, view
from models.platform_v1.catalog import REFERENCED_BY, RESOURCES
from models.platform_v1.contracts import AuditEntryPublic, public_model
from models.platform_v1.resource_spec import ResourceSpec
from models.platform_v1.tables import ResourceRow

router = APIRouter(tags=["resources"])

AnyBody = Annotated[Any, Body()]


class MergePatch(RootModel[dict[str, Any]]):
    """A JSON merge patch (RFC 7386) of the record's fields: a field given replaces, ``null`` removes it."""

IfMatch = Annotated[str | None, Header(description="The ETag the change is based on; 412 when it is stale.")]
Q_MAX_LENGTH = 200
WRITE_RESPONSES: dict[int | str, dict[str, Any]] = {
    412: {"description": "`precondition_failed`: `If-Match` is not the current ETag"}}
ONE_RESPONSES: dict[int | str, dict[str, Any]] = {410: {"description": "`gone`: the record was deleted"}}


def record_answer(row: ResourceRow, *, status_code: int = 200, location: str | None = None) -> Response:
    """One record in its wire shape, with its ``ETag`` (and ``Location``, for a create)."""
    headers = {"ETag": etag(row), **({"Location": location} if location else {})}
    return json_answer(view(row), status_code=status_code, headers=headers)


def enum_values(spec: ResourceSpec, field: str) -> list[str] | None:
    """The values a filter on ``field`` takes, when the schema gives it an enum."""
    annotation = spec.schema.model_fields[field].annotation
    for candidate in (annotation, *typing.get_args(annotation)):
        if isinstance(candidate, type) and issubclass(candidate, enum.Enum):
            return [member.value for member in candidate]
    return None


def _list_parameters(spec: ResourceSpec) -> dict[str, Any]:
    parameters = []
    for field in spec.filters:
        schema: dict[str, Any] = {"type": "string", "maxLength": Q_MAX_LENGTH}
        if (values := enum_values(spec, field)) is not None:
            schema["enum"] = values
        parameters.append({"name": field, "in": "query", "required": False, "schema": schema,
                           "description": f"Only records whose `{field}` is this."})
    return {"parameters": parameters}


def _filters(spec: ResourceSpec, request: Request) -> dict[str, str]:
    filters = {}
    for field in spec.filters:
        value = request.query_params.get(field)
        if value is None:
            continue
        allowed = enum_values(spec, field)
        if (allowed is not None and value not in allowed) or len(value) > Q_MAX_LENGTH or "\x00" in value:
            detail = f"one of {', '.join(allowed)}" if allowed else f"at most {Q_MAX_LENGTH} characters"
            raise BadRequest(f"{field} must be {detail}", code="validation_error",
                             extra={"fields": [{"field": f"query.{field}", "message": f"must be {detail}",
                                                "type": "value_error"}]})
        filters[field] = value
    return filters


def register(spec: ResourceSpec) -> None:
    many, one = f"{V1}/{spec.name}", f"{V1}/{spec.name}/{{resource_id}}"
    noun, sorting = spec.singular, sort_fields(spec)
    sort_dependency = sorting.dependency()
    public = public_model(spec)

    @platform_route(router, "GET", many, summary=f"List {spec.name}", operation_id=f"list_{spec.prefix}",
                    description=f"Newest first unless `sortBy` says otherwise; `q` matches words of the {noun}'s "
                                "fields (any order, `\"a phrase\"`, `-word` to exclude).",
                    openapi_extra=_list_parameters(spec), response_model=ListPage[public])  # type: ignore[valid-type]
    async def list_resources(request: Request, caller: CallerDep, db: SessionDep, limit: Limit = 50,
                             offset: Offset = 0, sort: Sort = Depends(sort_dependency),
                             q: Annotated[str | None, Query(max_length=Q_MAX_LENGTH, description=(
                                 "Words to find in the record's fields."))] = None) -> Response:
        query = ListQuery(limit=limit, offset=offset, sort=sort, q=q.strip() if q and q.strip() else None,
                          filters=_filters(spec, request))
        return json_answer(await ResourceStore(db, caller).page(spec, query))

    @platform_route(router, "POST", many, summary=f"Create a {noun}", status_code=201,
                    operation_id=f"create_{spec.prefix}", response_model=public,
                    openapi_extra=json_body(spec.schema))
    async def create_resource(request: Request, caller: CallerDep, key: KeyDep, db: SessionDep, body: AnyBody,
                              temporal: TemporalDep, settings: SettingsDep) -> Response:
        row = await ResourceStore(db, caller).create(spec, body)
        location = f"{request.url.path.rstrip('/')}/{row.id}"
        answer = await key.commit(db, record_answer(row, status_code=201, location=location))
        await nudge_relay(temporal, settings, db)
        return answer

    @platform_route(router, "GET", one, summary=f"One {noun}", operation_id=f"get_{spec.prefix}",
                    responses=ONE_RESPONSES, response_model=public)
    async def get_resource(resource_id: str, caller: CallerDep, db: SessionDep) -> Response:
        return record_answer(await ResourceStore(db, caller).one(spec, resource_id))

    @platform_route(router, "PUT", one, summary=f"Replace a {noun}", operation_id=f"replace_{spec.prefix}",
                    responses={**WRITE_RESPONSES, **ONE_RESPONSES}, response_model=public,
                    openapi_extra=json_body(spec.schema))
    async def replace_resource(resource_id: str, caller: CallerDep, key: KeyDep, db: SessionDep, body: AnyBody,
                               temporal: TemporalDep, settings: SettingsDep, if_match: IfMatch = None) -> Response:
        row = await ResourceStore(db, caller).replace(spec, resource_id, body, if_match)
        answer = await key.commit(db, record_answer(row))
        await nudge_relay(temporal, settings, db)
        return answer

    @platform_route(router, "PATCH", one, summary=f"Change fields of a {noun} (JSON merge patch)",
                    operation_id=f"patch_{spec.prefix}", responses={**WRITE_RESPONSES, **ONE_RESPONSES},
                    description="The body is a JSON merge patch (RFC 7386): fields given replace, `null` removes.",
                    response_model=public, openapi_extra=json_body(MergePatch))
    async def patch_resource(resource_id: str, caller: CallerDep, key: KeyDep, db: SessionDep, body: AnyBody,
                             temporal: TemporalDep, settings: SettingsDep, if_match: IfMatch = None) -> Response:
        row = await ResourceStore(db, caller).patch(spec, resource_id, body, if_match)
        answer = await key.commit(db, record_answer(row))
        await nudge_relay(temporal, settings, db)
        return answer

    referenced_by = ", ".join(f"`{field}` of {source.name}" for source, field in REFERENCED_BY[spec.name])
    delete_responses = {**WRITE_RESPONSES, **ONE_RESPONSES}
    if referenced_by:
        delete_responses[409] = {"description": "`referenced`: live records still name this one; or "
                                                "`idempotency_key_in_flight` (see `Retry-After`)"}

    @platform_route(router, "DELETE", one, summary=f"Delete a {noun}", status_code=204, response_class=Response,
                    operation_id=f"delete_{spec.prefix}", responses=delete_responses,
                    description="Soft delete: the record leaves every list; reading or deleting it again is 410."
                                + (f" Refused (409 `referenced`) while live records name it ({referenced_by})."
                                   if referenced_by else ""))
    async def delete_resource(resource_id: str, caller: CallerDep, key: KeyDep, db: SessionDep,
                              temporal: TemporalDep, settings: SettingsDep, if_match: IfMatch = None) -> Response:
        await ResourceStore(db, caller).delete(spec, resource_id, if_match)
        answer = await key.commit(db, Response(status_code=204))
        await nudge_relay(temporal, settings, db)
        return answer

    @platform_route(router, "GET", f"{one}/audit", summary=f"Every change of a {noun}, newest first",
                    operation_id=f"audit_{spec.prefix}", response_model=ListPage[AuditEntryPublic])
    async def resource_audit(resource_id: str, caller: CallerDep, db: SessionDep, limit: Limit = 50,
                             offset: Offset = 0, sort: Sort = Depends(AUDIT_SORTS.dependency())) -> Response:
        return json_answer(await ResourceStore(db, caller).audit(spec, resource_id, limit, offset, sort))


for _spec in RESOURCES:
    register(_spec)
