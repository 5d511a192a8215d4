"""Protocol runs (seed 003)."""

from __future__ import annotations

from fastapi import APIRouter, Request

from api.auth import check_project_token
from api.deps import ReaderDep, SessionDep, SettingsDep
from api.routes.events import LimitQuery, OffsetQuery
from api.services.events import clamp_limit, list_events
from api.services.runs import get_project, get_run, run_public
from models.event import EventPublic
from models.protocol import ProtocolRunPublic

router = APIRouter(tags=["protocols"])


@router.get("/protocols/{protocol_run_id}", response_model=ProtocolRunPublic, summary="Get a protocol run")
async def get_protocol(protocol_run_id: int, request: Request, session: SessionDep, settings: SettingsDep,
                       _: ReaderDep) -> ProtocolRunPublic:
    run = await get_run(session, protocol_run_id)
    check_project_token(request, (await get_project(session, run.project_id)).secrets)
    return run_public(run, settings)


@router.get("/protocols/{protocol_run_id}/events", response_model=list[EventPublic],
            summary="A protocol run's events, newest first")
async def protocol_events(protocol_run_id: int, request: Request, session: SessionDep, _: ReaderDep,
                          limit: LimitQuery = None, offset: OffsetQuery = 0) -> list[EventPublic]:
    run = await get_run(session, protocol_run_id)
    check_project_token(request, (await get_project(session, run.project_id)).secrets)
    return await list_events(session, protocol_run_id=protocol_run_id, limit=clamp_limit(limit), offset=offset)
