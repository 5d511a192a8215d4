"""``GET /feed-sources``: each source of the sources file, with what its polls left in Postgres and
its Temporal Schedule's next run."""

from __future__ import annotations

import asyncio

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.common.errors import NotFound
from api.maintenance.services.actions import maintenance_queue
from capstan.settings import Settings
from integrations.feeds.errors import without_credentials
from models.maintenance.feed_config import FeedSourceConfig, effective_interval_seconds, load_feed_sources
from models.maintenance.public import FeedCursorPublic, FeedSourceList, FeedSourcePublic
from models.maintenance.tables import FeedSourceStateRow
from models.maintenance.timestamps import iso_ms
from models.maintenance.workflow_io import feed_schedule_id


async def _schedule_state(client: Client, schedule_id: str) -> tuple[str | None, bool | None]:
    """The schedule's next run and whether it is paused; ``(None, None)`` when there is none (yet)."""
    try:
        description = await client.get_schedule_handle(schedule_id).describe()
    except (RPCError, RuntimeError):
        return None, None
    upcoming = description.info.next_action_times
    return (iso_ms(upcoming[0]) if upcoming else None), description.schedule.state.paused


def _source_view(source: FeedSourceConfig, state: FeedSourceStateRow | None, next_run: str | None,
                 paused: bool | None) -> FeedSourcePublic:
    return FeedSourcePublic(
        id=source.id, provider=source.provider, event=source.event, url=without_credentials(source.url),
        poll_interval_seconds=effective_interval_seconds(source), prime_only=source.primeOnly,
        cursor=FeedCursorPublic.model_validate(state.cursor) if state and state.cursor else None,
        last_polled_at=iso_ms(state.last_polled_at) if state and state.last_polled_at else None,
        last_error=state.last_error if state else None, next_run_at=next_run, paused=paused)


async def list_feed_sources(session: AsyncSession, client: Client, settings: Settings) -> FeedSourceList:
    loaded = load_feed_sources(settings.patch.feed_sources_path)
    ids = [source.id for source in loaded.sources]
    states = {row.source_id: row for row in
              (await session.exec(select(FeedSourceStateRow).where(col(FeedSourceStateRow.source_id).in_(ids)))).all()}
    queue = maintenance_queue(settings)
    schedules = await asyncio.gather(*(_schedule_state(client, feed_schedule_id(queue, i)) for i in ids))
    listed = FeedSourceList(sources=[_source_view(source, states.get(source.id), *schedule)
                                     for source, schedule in zip(loaded.sources, schedules, strict=True)])
    if loaded.errors:
        listed.errors = list(loaded.errors)
    return listed


def feed_source_or_404(settings: Settings, source_id: str) -> FeedSourceConfig:
    source = load_feed_sources(settings.patch.feed_sources_path).get(source_id)
    if source is None:
        raise NotFound(f"feed source {source_id!r} is not in the feed sources file", code="feed_source_not_found")
    return source
