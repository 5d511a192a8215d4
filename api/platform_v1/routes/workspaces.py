"""``/api/v1/workspaces``: the tenants, managed by ``platform_admin`` and ``msp_admin``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response

from api.common.deps import SessionDep
from api.common.pagination import Limit, ListPage, Offset, Sort
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.workspaces import WORKSPACE_SORTS, create_workspace, one_workspace, workspace_page
from models.platform_v1.contracts import WorkspaceCreate, WorkspacePublic

router = APIRouter(tags=["workspaces"])


@platform_route(router, "GET", f"{V1}/workspaces", summary="List workspaces", response_model=ListPage[WorkspacePublic])
async def list_workspaces(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                          sort: Sort = Depends(WORKSPACE_SORTS.dependency()),
                          q: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None
                          ) -> Response:
    return json_answer(await workspace_page(db, limit, offset, sort, q.strip() if q and q.strip() else None))


@platform_route(router, "POST", f"{V1}/workspaces", summary="Create a workspace", status_code=201,
                response_model=WorkspacePublic)
async def new_workspace(body: WorkspaceCreate, request: Request, caller: CallerDep, key: KeyDep,
                        db: SessionDep) -> Response:
    workspace = await create_workspace(db, caller, body.name)
    answer = json_answer(workspace, status_code=201,
                         headers={"Location": f"{request.url.path.rstrip('/')}/{workspace.id}"})
    return await key.commit(db, answer)


@platform_route(router, "GET", f"{V1}/workspaces/{{workspace_id}}", summary="One workspace",
                response_model=WorkspacePublic)
async def get_workspace(workspace_id: str, caller: CallerDep, db: SessionDep) -> Response:
    return json_answer(await one_workspace(db, workspace_id))
