"""Flow events (update triggers): list, read with their dispatches, retry, replay."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import MethodNotAllowed
from api.maintenance.params import (
    ACTION_RESPONSES,
    LimitDep,
)
from api.maintenance.services import actions, records
from models.maintenance.status import DispatchOperation, DispatchStatus

router = APIRouter(tags=["flow-events"])

OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@router.get("/flow-events", summary="Flow events, newest first")
async def list_flow_events(session: SessionDep, limit: LimitDep, type: str | None = None) -> dict:  # noqa: A002
    return {"events": await records.list_flow_events(session, type=type, limit=limit)}


async def _dispatch(session, client, settings, event_id: str, operation: str) -> JSONResponse:
    event = await records.flow_event_or_404(session, event_id)
    outcome = await actions.dispatch_again(client, settings, event_id, operation)
    failed = outcome.record.get("status") == DispatchStatus.FAILED
    return JSONResponse({"event": event, "record": outcome.record}, status_code=502 if failed else 202)


@router.post("/flow-events/{event_id:path}/retry", status_code=202, responses=ACTION_RESPONSES,
             summary="Dispatch a stored event again (502 with the failed record when the backend fails)")
async def retry_flow_event(event_id: str, session: SessionDep, client: TemporalDep,
                           settings: SettingsDep) -> JSONResponse:
    return await _dispatch(session, client, settings, event_id, DispatchOperation.DISPATCH)


@router.post("/flow-events/{event_id:path}/replay", status_code=202, responses=ACTION_RESPONSES,
             summary="Ask the backend to replay a stored event (new runs even though it knows the id)")
async def replay_flow_event(event_id: str, session: SessionDep, client: TemporalDep,
                            settings: SettingsDep) -> JSONResponse:
    return await _dispatch(session, client, settings, event_id, DispatchOperation.REPLAY)


@router.get("/flow-events/{event_id:path}", summary="A flow event and its dispatch records, newest first")
async def read_flow_event(event_id: str, session: SessionDep, limit: LimitDep) -> dict:
    event = await records.flow_event_or_404(session, event_id)
    return {"event": event, "dispatches": await records.list_dispatches(session, event_id=event_id, status=None,
                                                                        limit=limit)}


@router.api_route("/flow-events/{event_id:path}", methods=OTHER_METHODS, include_in_schema=False)
async def flow_event_other_method(event_id: str, session: SessionDep) -> None:
    await records.flow_event_or_404(session, event_id)  # an unknown id is a 404 whatever the method
    raise MethodNotAllowed("method not allowed", headers={"Allow": "GET"})
