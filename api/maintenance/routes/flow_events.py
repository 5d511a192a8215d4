"""Flow events (update triggers): list, read with their dispatches, retry, replay."""

from __future__ import annotations

from fastapi import APIRouter, Response
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import MethodNotAllowed
from api.maintenance.params import NO_WORKER, LimitDep
from api.maintenance.services import actions, records
from capstan.settings import Settings
from models.maintenance.public import FlowEventDispatchAnswer, FlowEventList, FlowEventWithDispatches
from models.maintenance.status import DispatchOperation

router = APIRouter(tags=["flow-events"])

OTHER_METHODS = ["POST", "PUT", "PATCH", "DELETE"]
#: A retry or replay whose dispatch failed answers 502 with the same body as a 202.
DISPATCH_RESPONSES = {502: {"description": "The workspace backend failed: the same body as a 202, with the `failed` "
                                          "record", "model": FlowEventDispatchAnswer}, **NO_WORKER}


@router.get("/flow-events", response_model=FlowEventList, response_model_exclude_unset=True,
            summary="Flow events, newest first")
async def list_flow_events(session: SessionDep, limit: LimitDep, type: str | None = None  # noqa: A002
                           ) -> FlowEventList:
    return await records.list_flow_events(session, type=type, limit=limit)


async def _dispatch(session: AsyncSession, client: Client, settings: Settings, response: Response, event_id: str,
                    operation: str) -> FlowEventDispatchAnswer:
    event = await records.flow_event_or_404(session, event_id)
    answer, failed = await actions.dispatch_again(client, settings, event, operation)
    if failed:
        response.status_code = 502
    return answer


@router.post("/flow-events/{event_id:path}/retry", status_code=202, responses=DISPATCH_RESPONSES,
             response_model=FlowEventDispatchAnswer, response_model_exclude_unset=True,
             summary="Dispatch a stored event again (502 with the failed record when the backend fails)")
async def retry_flow_event(event_id: str, session: SessionDep, client: TemporalDep, settings: SettingsDep,
                           response: Response) -> FlowEventDispatchAnswer:
    return await _dispatch(session, client, settings, response, event_id, DispatchOperation.DISPATCH)


@router.post("/flow-events/{event_id:path}/replay", status_code=202, responses=DISPATCH_RESPONSES,
             response_model=FlowEventDispatchAnswer, response_model_exclude_unset=True,
             summary="Ask the backend to replay a stored event (new runs even though it knows the id)")
async def replay_flow_event(event_id: str, session: SessionDep, client: TemporalDep, settings: SettingsDep,
                            response: Response) -> FlowEventDispatchAnswer:
    return await _dispatch(session, client, settings, response, event_id, DispatchOperation.REPLAY)


@router.get("/flow-events/{event_id:path}", response_model=FlowEventWithDispatches,
            response_model_exclude_unset=True, summary="A flow event and its dispatch records, newest first")
async def read_flow_event(event_id: str, session: SessionDep, limit: LimitDep) -> FlowEventWithDispatches:
    return await records.read_flow_event(session, event_id, limit=limit)


@router.api_route("/flow-events/{event_id:path}", methods=OTHER_METHODS, include_in_schema=False)
async def flow_event_other_method(event_id: str, session: SessionDep) -> None:
    await records.flow_event_or_404(session, event_id)  # an unknown id is a 404 whatever the method
    raise MethodNotAllowed("method not allowed", headers={"Allow": "GET"})
