"""Feed sources, for operators: their state, and a poll on demand."""

from __future__ import annotations

from fastapi import APIRouter

from api.common.deps import SessionDep, SettingsDep, TemporalDep
from api.maintenance.params import POLL_RESPONSES
from api.maintenance.services import actions
from api.maintenance.services.feed_sources import feed_source_or_404, list_feed_sources
from models.maintenance.public import FeedPollPublic, FeedSourceList

router = APIRouter(tags=["feed-sources"])


@router.get("/feed-sources", response_model=FeedSourceList, response_model_exclude_unset=True,
            summary="Each feed source with its cursor, last poll and next run")
async def feed_sources(session: SessionDep, client: TemporalDep, settings: SettingsDep) -> FeedSourceList:
    return await list_feed_sources(session, client, settings)


@router.post("/feed-sources/{source_id:path}/poll", status_code=202, responses=POLL_RESPONSES,
             response_model=FeedPollPublic, response_model_exclude_unset=True,
             summary="Poll a feed source now; answers what the poll found once it finished",
             description="A feed that cannot be read or stored (an error answer, a body over "
                         "`CAPSTAN_FEED_MAX_BYTES`, a redirect to another origin, an entry Capstan cannot store) "
                         "is still a 202: `error` says why, and the source's `lastError` shows it.")
async def poll_feed_source(source_id: str, client: TemporalDep, settings: SettingsDep) -> FeedPollPublic:
    feed_source_or_404(settings, source_id)
    return await actions.poll_now(client, settings, source_id)
