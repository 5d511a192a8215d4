"""Feed sources, for operators: their state, and a poll on demand."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.common.errors import NotFound
from api.maintenance.params import ACTION_RESPONSES
from api.maintenance.services import actions
from api.maintenance.services.feed_sources import feed_source_exists, list_feed_sources

router = APIRouter(tags=["feed-sources"])


@router.get("/feed-sources", summary="Each feed source with its cursor, last poll and next run")
async def feed_sources(session: SessionDep, client: TemporalDep, settings: SettingsDep) -> dict:
    return await list_feed_sources(session, client, settings)


@router.post("/feed-sources/{source_id:path}/poll", status_code=202, responses=ACTION_RESPONSES,
             summary="Poll a feed source now; answers what the poll found once it finished")
async def poll_feed_source(source_id: str, client: TemporalDep, settings: SettingsDep) -> JSONResponse:
    if not feed_source_exists(settings, source_id):
        raise NotFound(f"feed source {source_id!r} is not in the feed sources file", code="feed_source_not_found")
    result = await actions.poll_now(client, settings, source_id)
    if not result.found:
        raise NotFound(result.error or f"feed source {source_id!r} not found", code="feed_source_not_found")
    body = {"sourceId": result.source_id, "primed": result.primed, "entries": result.entries,
            "events": result.events}
    if result.error is not None:
        body["error"] = result.error
    return JSONResponse(body, status_code=202)
