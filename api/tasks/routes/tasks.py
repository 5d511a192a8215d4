"""Tasks of the signed-in user: lists, history, one task's status, create, retry, stop.

Task ids hold ``/`` and ``#`` (``acme/widgets#11``): in paths they are URL-encoded
(``/api/tasks/acme%2Fwidgets%2311/status``). Only tasks of repositories the user's App installations
reach (and, once onboarding is completed, that the user selected) are visible; others are 404.
Retry and stop answer the documented POST and the original's PUT.

Routes parse and answer: what a run does (GitHub, its records, its status) is its workflow's, which
the services reach through ``api.common.temporal_calls``; every answer is a model of
``models.tasks.public``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import BadRequest, NotFound
from api.common.openapi import json_body
from api.common.routing import route_per_method
from api.tasks.schemas import CreateTaskBody, ManualStatusBody
from api.tasks.services.github_data import github_answers
from api.tasks.services.scope import user_scope
from api.tasks.services.task_actions import (
    create_task,
    parse_create_body,
    parse_manual_status,
    retry_task,
    set_status_by_hand,
    stop_task,
)
from api.tasks.services.task_records import (
    TASK_NOT_FOUND,
    list_tasks,
    one_task,
    task_history,
    task_in_scope,
    task_status,
)
from api.tasks.session import SessionUser
from models.common.limits import MAX_OFFSET, PG_INTEGER_MAX
from models.tasks.history import (
    HISTORY_LIMIT,
    LIST_LIMIT,
    QueryParameterError,
    parse_history_query,
    parse_list_query,
)
from models.tasks.ids import TaskId, parse_task_id
from models.tasks.public import RetryAnswer, StatusSetAnswer, StopAnswer, TaskHistoryPage, TaskPublic, TaskStatusPublic
from models.tasks.status import TaskStatus

router = APIRouter(tags=["tasks"])

AnyBody = Annotated[Any, Body()]
TASK_ID_DESCRIPTION = "The task id `owner/repo#<issue>`, URL-encoded: `acme%2Fwidgets%2311`."
GITHUB_RESPONSES: dict[int | str, dict[str, Any]] = {
    429: {"description": "`rate_limit`: GitHub's rate limit is spent"},
    502: {"description": "`github_unavailable`: GitHub failed or is unreachable"},
}
TASK_RESPONSES: dict[int | str, dict[str, Any]] = {
    **GITHUB_RESPONSES,
    400: {"description": "`invalid task id`: not `owner/repo#<number>` once decoded"},
    404: {"description": "`task not found` (or not in the user's repositories)"},
}


def task_id_of(raw: str) -> TaskId:
    task_id = parse_task_id(raw)
    if task_id is None:
        raise BadRequest("invalid task id: expected owner/repo#<number>, URL-encoded (acme%2Fwidgets%2311)",
                         code="invalid task id")
    return task_id


def _query(parse: Any, request: Request) -> Any:
    try:
        return parse(request.query_params)
    except QueryParameterError as error:
        raise BadRequest(f"invalid request: query.{error.name}: {error}", code="validation_error", extra={
            "fields": [{"field": f"query.{error.name}", "message": str(error), "type": "value_error"}]}) from None


def _parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


def _paging_parameters(limits: tuple[int, int]) -> list[dict[str, Any]]:
    return [
        _parameter("status", {"type": "string", "enum": list(TaskStatus)},
                   "Only tasks whose latest run has this status."),
        _parameter("limit", {"type": "integer", "minimum": 1, "maximum": limits[1], "default": limits[0]},
                   f"Page size, 1–{limits[1]} (default {limits[0]})."),
        _parameter("offset", {"type": "integer", "minimum": 0, "maximum": MAX_OFFSET, "default": 0},
                   f"Tasks to skip, 0–{MAX_OFFSET:,}."),
    ]


_TEXT = {"type": "string"}
#: The lists read their query strings themselves (``models.tasks.history``); this is what they take.
LIST_PARAMETERS = {"parameters": _paging_parameters(LIST_LIMIT)}
HISTORY_PARAMETERS = {"parameters": [
    *_paging_parameters(HISTORY_LIMIT),
    _parameter("agent", _TEXT, "Exactly this agent."),
    _parameter("repo", _TEXT, "`owner/name` contains this, in any case."),
    _parameter("branch", _TEXT, "Exactly this branch, in any case."),
    _parameter("issueNumber", {"type": "integer", "minimum": 1, "maximum": PG_INTEGER_MAX}, "Exactly this issue."),
    _parameter("search", _TEXT, "The issue title, or the issue number as text, contains this (any case)."),
    _parameter("from", _TEXT, "Completed at or after: an ISO 8601 date or date-time (`2026-05-13`, "
                              "`2026-05-13T10:00:00Z`); never-completed tasks are left out."),
    _parameter("to", _TEXT, "Completed at or before: an ISO 8601 date (that whole day) or date-time."),
]}


@router.get("/api/tasks", response_model=list[TaskPublic], responses=GITHUB_RESPONSES,
            summary="Tasks of the user's repositories, newest change first (`status`, `limit` 1–500 default 100, "
                    "`offset`)", openapi_extra=LIST_PARAMETERS)
async def read_tasks(request: Request, signed_in: SessionUser, db: SessionDep,
                     settings: SettingsDep) -> list[TaskPublic]:
    query = _query(parse_list_query, request)
    async with user_scope(request, db, settings, signed_in) as scope:
        return await list_tasks(db, scope, query)


@router.get("/api/tasks/history", response_model=TaskHistoryPage, responses=GITHUB_RESPONSES,
            summary="Task history, newest completion first: filters `status, agent, repo, branch, issueNumber, "
                    "search, from, to`; `limit` 1–200 (50), `offset`", openapi_extra=HISTORY_PARAMETERS)
async def read_history(request: Request, signed_in: SessionUser, db: SessionDep,
                       settings: SettingsDep) -> TaskHistoryPage:
    query = _query(parse_history_query, request)
    async with user_scope(request, db, settings, signed_in) as scope:
        return await task_history(db, scope, query)


@router.post("/api/tasks", status_code=201, response_model=TaskPublic, responses={
    **GITHUB_RESPONSES,
    400: {"description": "Missing repo or issue/prompt, unknown agent or priority, or the agent is not ready "
                         "(`error` is the blocked summary)"},
    403: {"description": "`repo_not_selected`"}, 404: {"description": "`not_found`: no such issue or repository"},
    409: {"description": "`task_running`: a run of that issue is queued or running"}},
    summary="Create a task from the dashboard: an existing issue (`issueNumber`) or a new one from `prompt`",
    description="The run's workflow reads the repository and the issue (or opens the issue) with the user's "
                "GitHub token and records the task; the answer is the task as recorded (`queued`).",
    openapi_extra=json_body(CreateTaskBody))
async def create(body: AnyBody, request: Request, signed_in: SessionUser, db: SessionDep, temporal: TemporalDep,
                 settings: SettingsDep) -> TaskPublic:
    parsed = parse_create_body(body)
    async with github_answers(request, db, signed_in):
        task_id = await create_task(db, temporal, settings, signed_in, parsed)
    return await one_task(db, task_id)


@router.get("/api/tasks/{task_id:path}/status", response_model=TaskStatusPublic, responses=TASK_RESPONSES,
            summary="One task: its latest run and every execution, newest first")
async def read_status(task_id: str, request: Request, signed_in: SessionUser, db: SessionDep,
                      settings: SettingsDep) -> TaskStatusPublic:
    parsed = task_id_of(task_id)
    async with user_scope(request, db, settings, signed_in) as scope:
        return await task_status(db, await task_in_scope(db, scope, parsed))


@router.put("/api/tasks/{task_id:path}/status", response_model=StatusSetAnswer, responses={
    **TASK_RESPONSES, 409: {"description": "`task_running`: a run is working on it; stop it first"}},
    summary="Set a task's status by hand (relabels and comments the issue); the body names the task",
    description="A short workflow relabels and comments the issue with the user's GitHub token, then records "
                "the status on the task; the answer comes once it is recorded.",
    openapi_extra=json_body(ManualStatusBody))
async def write_status(task_id: str, body: AnyBody, request: Request, signed_in: SessionUser, db: SessionDep,
                       temporal: TemporalDep, settings: SettingsDep) -> StatusSetAnswer:
    change = parse_manual_status(body)
    if str(change.task_id) != str(task_id_of(task_id)):
        raise BadRequest("the body names another task than the path", code="invalid task id")
    async with user_scope(request, db, settings, signed_in) as scope:
        task = await task_in_scope(db, scope, change.task_id)
        await set_status_by_hand(db, temporal, settings, signed_in, task, change)
    return StatusSetAnswer()


@route_per_method(router, "/api/tasks/{task_id:path}/retry", ["POST", "PUT"], response_model=RetryAnswer,
                  responses={**TASK_RESPONSES, 409: {"description": "`task_running` while a run is queued or "
                                                                    "running; `not_retryable` after success"}},
                  summary="Start a new execution (new id, new branch) of a failed, timed-out or stopped task, "
                          "as the user who retries")
async def retry(task_id: str, request: Request, signed_in: SessionUser, db: SessionDep, temporal: TemporalDep,
                settings: SettingsDep) -> RetryAnswer:
    parsed = task_id_of(task_id)
    async with user_scope(request, db, settings, signed_in) as scope:
        task = await task_in_scope(db, scope, parsed)
        return await retry_task(db, temporal, settings, signed_in, task)


@route_per_method(router, "/api/tasks/{task_id:path}/stop", ["POST", "PUT"], response_model=StopAnswer,
                  responses={**TASK_RESPONSES,
                             202: {"model": StopAnswer,
                                   "description": "`stopping`: accepted, not yet recorded within the update timeout"},
                             409: {"description": "`not_running`: no run is queued or running"}},
                  summary="Stop the running execution: its runner is killed or destroyed, then the task is `stopped`")
async def stop(task_id: str, request: Request, response: Response, signed_in: SessionUser, db: SessionDep,
               temporal: TemporalDep, settings: SettingsDep) -> StopAnswer:
    parsed = task_id_of(task_id)
    async with user_scope(request, db, settings, signed_in) as scope:
        task = await task_in_scope(db, scope, parsed)
    response.status_code, answer = await stop_task(db, temporal, settings, task)
    return answer


@router.api_route("/api/tasks/{task_id:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def no_such_task_route(task_id: str) -> None:
    """``/api/tasks/<id>`` alone, or with another action, is no route: 404 rather than a confusing 405.
    Left out of the OpenAPI document: it answers no 2xx."""
    raise NotFound(f"no such route; see {TASK_ID_DESCRIPTION}", code=TASK_NOT_FOUND)
