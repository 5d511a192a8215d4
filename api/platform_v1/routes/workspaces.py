"""``/api/v1/workspaces``: the tenants, managed by ``platform_admin`` and ``msp_admin``."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.common.deps import SessionDep
from api.common.pagination import Limit, Offset, Sort
from api.platform_v1.access import V1, CallerDep, platform_route
from api.platform_v1.services.workspaces import WORKSPACE_SORTS, create_workspace, one_workspace, workspace_page

router = APIRouter(tags=["workspaces"])


class WorkspaceCreate(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200)


@platform_route(router, "GET", f"{V1}/workspaces", summary="List workspaces")
async def list_workspaces(caller: CallerDep, db: SessionDep, limit: Limit = 50, offset: Offset = 0,
                          sort: Sort = Depends(WORKSPACE_SORTS.dependency()),
                          q: Annotated[str | None, Query(max_length=200, description="Part of the name.")] = None
                          ) -> dict:
    return await workspace_page(db, limit, offset, sort, q.strip() if q and q.strip() else None)


@platform_route(router, "POST", f"{V1}/workspaces", summary="Create a workspace", status_code=201)
async def new_workspace(body: WorkspaceCreate, request: Request, caller: CallerDep, db: SessionDep) -> Response:
    return await create_workspace(db, request, caller, body.name)


@platform_route(router, "GET", f"{V1}/workspaces/{{workspace_id}}", summary="One workspace")
async def get_workspace(workspace_id: str, caller: CallerDep, db: SessionDep) -> dict:
    return await one_workspace(db, workspace_id)
