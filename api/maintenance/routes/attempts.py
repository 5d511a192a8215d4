"""Maintenance attempts: the latest record of each, and sync with the workspace runs."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import MethodNotAllowed
from api.maintenance.params import SYNC_RESPONSES, AttemptStatusDep, LimitDep
from api.maintenance.services import actions, records
from models.maintenance.public import MaintenanceAttemptEnvelope, MaintenanceAttemptList

router = APIRouter(tags=["maintenance-attempts"])


@router.get("/maintenance-attempts", response_model=MaintenanceAttemptList, response_model_exclude_unset=True,
            summary="The latest record of each attempt, most recently changed first")
async def list_attempts(session: SessionDep, limit: LimitDep, status: AttemptStatusDep,
                        eventId: str | None = None) -> MaintenanceAttemptList:  # noqa: N803 - the documented name
    return await records.list_attempts(session, event_id=eventId, status=status, limit=limit)


@router.post("/maintenance-attempts/{attempt_id:path}/sync", status_code=202, responses=SYNC_RESPONSES,
             response_model=MaintenanceAttemptEnvelope, response_model_exclude_unset=True,
             summary="Read the attempt's runs from the backend; append a record when something changed")
async def sync_attempt(attempt_id: str, session: SessionDep, client: TemporalDep,
                       settings: SettingsDep) -> MaintenanceAttemptEnvelope:
    await records.read_attempt(session, attempt_id)  # an unknown id is a 404 before any workflow runs
    return await actions.sync_attempt(client, settings, attempt_id)


@router.get("/maintenance-attempts/{attempt_id:path}", response_model=MaintenanceAttemptEnvelope,
            response_model_exclude_unset=True, summary="The latest record of one attempt")
async def read_attempt(attempt_id: str, session: SessionDep) -> MaintenanceAttemptEnvelope:
    return await records.read_attempt(session, attempt_id)


@router.api_route("/maintenance-attempts/{attempt_id:path}", methods=["POST", "PUT", "PATCH", "DELETE"],
                  include_in_schema=False)
async def attempt_other_method(attempt_id: str, session: SessionDep) -> None:
    await records.read_attempt(session, attempt_id)  # an unknown id is a 404 whatever the method
    raise MethodNotAllowed("method not allowed", headers={"Allow": "GET"})
