"""Workflow executions (list, one, retry, cancel) and ``POST /execute/{agent}.{reasoner}``.

Routes parse and answer; ``services.executions`` and ``services.execute`` decide, the workflow writes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.pagination import Limit, ListPage, Offset, Sort
from api.platform_v1.access import V1, CallerDep
from api.platform_v1.answers import json_answer
from api.platform_v1.idempotency import KeyDep
from api.platform_v1.routing import platform_route
from api.platform_v1.services.execute import execute
from api.platform_v1.services.executions import (
    EXECUTION_SORTS,
    cancel_execution,
    execution_page,
    execution_row,
    execution_view,
    retry_execution,
)
from models.platform_v1.execution_contracts import ActionBody, ExecuteBody, ExecutionPublic, ExecutionWithResult
from models.platform_v1.executions import AGENT_NAME, ExecutionStatus, ExecutionType

router = APIRouter(tags=["executions"])

ExecutionId = Annotated[str, Path(max_length=64, description="`wex_` + 32 hex digits.")]
ONE = f"{V1}/workflow-executions/{{execution_id}}"
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "`not_found`: no such execution in this workspace"}}
ACTION_RESPONSES: dict[int | str, dict[str, Any]] = {
    **NOT_FOUND,
    409: {"description": "`invalid_transition` (with `currentStatus`): the status rules do not allow it"},
    503: {"description": "Temporal unreachable or no worker (`Retry-After`)"}}


def location_of(execution_id: str) -> str:
    return f"{V1}/workflow-executions/{execution_id}"


@platform_route(router, "GET", f"{V1}/workflow-executions", summary="List workflow executions",
                description="Newest first unless `sortBy` (`createdAt`, `completedAt`, `durationMs`) says otherwise; "
                            "`q` is a case-insensitive substring of the execution's fields.",
                response_model=ListPage[ExecutionPublic])
async def list_executions(caller: CallerDep, db: SessionDep, settings: SettingsDep, limit: Limit = 50,
                          offset: Offset = 0, sort: Sort = Depends(EXECUTION_SORTS.dependency()),
                          status: Annotated[ExecutionStatus | None, Query(description="Only this status.")] = None,
                          type: Annotated[ExecutionType | None, Query(description="Only this type.")] = None,  # noqa: A002
                          agent_id: Annotated[str | None, Query(alias="agentId", pattern=AGENT_NAME.pattern,
                                                                description="Only this agent's.")] = None,
                          q: Annotated[str | None, Query(max_length=200, description="Text to find.")] = None
                          ) -> Response:
    filters = {"status": status, "type": type, "agentId": agent_id}
    return json_answer(await execution_page(db, caller, settings, limit=limit, offset=offset, sort=sort,
                                            filters=filters, q=q.strip() if q and q.strip() else None))


@platform_route(router, "GET", ONE, summary="One workflow execution", responses=NOT_FOUND,
                response_model=ExecutionPublic)
async def get_execution(execution_id: ExecutionId, caller: CallerDep, db: SessionDep,
                        settings: SettingsDep) -> Response:
    return json_answer(execution_view(await execution_row(db, caller, execution_id), settings))


@platform_route(router, "POST", f"{ONE}/retry", summary="Retry a failed or cancelled execution", status_code=202,
                description="A new run of the execution's Temporal workflow id with the same input: the record is "
                            "`queued` again with `retryCount` + 1 and its outcome fields cleared. The body is `{}` or "
                            "none.", responses=ACTION_RESPONSES, response_model=ExecutionPublic)
async def retry(execution_id: ExecutionId, caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                settings: SettingsDep, body: ActionBody | None = None) -> Response:
    row = await retry_execution(db, temporal, settings, caller, execution_id)
    return json_answer(execution_view(row, settings), status_code=202,
                       headers={"Location": location_of(row.id)})


@platform_route(router, "POST", f"{ONE}/cancel", summary="Cancel a queued or running execution", status_code=202,
                description="Temporal cancels the execution's run; an agent call in flight is abandoned and the "
                            "record shows `cancelled` within seconds. The body is `{}` or none.",
                responses=ACTION_RESPONSES, response_model=ExecutionPublic)
async def cancel(execution_id: ExecutionId, caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                 settings: SettingsDep, body: ActionBody | None = None) -> Response:
    row = await cancel_execution(db, temporal, caller, execution_id)
    return json_answer(execution_view(row, settings), status_code=202, headers={"Location": location_of(row.id)})


@platform_route(router, "POST", f"{V1}/execute/{{target}}", summary="Execute an agent's reasoner",
                description="`target` is `agent.reasoner`. Sync (the default) waits up to `waitSeconds` (1–60, 30): "
                            "finished → 200 with the record and `result` (null unless it succeeded); not yet → 202 "
                            "with the record and `Location`. Async → 202 with the record and `Location`. Refusals "
                            "write nothing; a request sent again with its `Idempotency-Key` never calls the agent "
                            "again.",
                responses={202: {"model": ExecutionPublic, "description": "Started (async), or not finished within "
                                                                          "`waitSeconds` (sync): see `Location`"},
                           400: {"description": "`invalid_target`, or a bad body"},
                           404: {"description": "`agent_not_found` or `reasoner_not_found`"},
                           503: {"description": "`agent_unavailable`: the agent is stale (`Retry-After: 5`); or "
                                                "Temporal unreachable or no worker"}},
                response_model=ExecutionWithResult)
async def execute_target(target: Annotated[str, Path(max_length=200, description="`agent.reasoner`")],
                         body: ExecuteBody, caller: CallerDep, key: KeyDep, db: SessionDep, temporal: TemporalDep,
                         settings: SettingsDep) -> Response:
    executed = await execute(db, temporal, settings, caller, key.value, target, body)
    view = execution_view(executed.row, settings)
    if executed.finished:
        return json_answer(ExecutionWithResult.model_construct(**dict(view), result=executed.result))
    return json_answer(view, status_code=202, headers={"Location": location_of(executed.row.id)})
