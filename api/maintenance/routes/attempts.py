"""Maintenance attempts: the latest record of each, and sync with the workspace runs."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import BadGateway, MethodNotAllowed
from api.maintenance.params import (
    ACTION_RESPONSES,
    AttemptStatusDep,
    LimitDep,
)
from api.maintenance.services import actions, records

router = APIRouter(tags=["maintenance-attempts"])


@router.get("/maintenance-attempts", summary="The latest record of each attempt, most recently changed first")
async def list_attempts(session: SessionDep, limit: LimitDep, status: AttemptStatusDep,
                        eventId: str | None = None) -> dict:  # noqa: N803 - the documented query name
    return {"attempts": await records.list_attempts(session, event_id=eventId, status=status, limit=limit)}


@router.post("/maintenance-attempts/{attempt_id:path}/sync", status_code=202, responses=ACTION_RESPONSES,
             summary="Read the attempt's runs from the backend; append a record when something changed")
async def sync_attempt(attempt_id: str, session: SessionDep, client: TemporalDep, settings: SettingsDep
                       ) -> JSONResponse:
    await records.attempt_or_404(session, attempt_id)
    outcome = await actions.sync_attempt(client, settings, attempt_id)
    if outcome.backend_error is not None:
        raise BadGateway(outcome.backend_error, code="workspace_backend_unavailable")
    return JSONResponse({"attempt": outcome.attempt}, status_code=202)


@router.get("/maintenance-attempts/{attempt_id:path}", summary="The latest record of one attempt")
async def read_attempt(attempt_id: str, session: SessionDep) -> dict:
    return {"attempt": await records.attempt_or_404(session, attempt_id)}


@router.api_route("/maintenance-attempts/{attempt_id:path}", methods=["POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def attempt_other_method(attempt_id: str, session: SessionDep) -> None:
    await records.attempt_or_404(session, attempt_id)
    raise MethodNotAllowed("method not allowed", headers={"Allow": "GET"})
