"""``GET /feed-sources``: each source of the sources file, with what its polls left in Postgres and
its Temporal Schedule's next run."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import Client
from temporalio.service import RPCError

from api.maintenance.services.actions import maintenance_queue
from capstan.settings import Settings
from models.maintenance.feed_config import FeedSourceConfig, effective_interval_seconds, load_feed_sources
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
                 paused: bool | None) -> dict[str, Any]:
    return {"id": source.id, "provider": source.provider, "event": source.event, "url": source.url,
            "pollIntervalSeconds": effective_interval_seconds(source), "primeOnly": source.primeOnly,
            "cursor": state.cursor if state else None,
            "lastPolledAt": iso_ms(state.last_polled_at) if state and state.last_polled_at else None,
            "lastError": state.last_error if state else None, "nextRunAt": next_run, "paused": paused}


async def list_feed_sources(session: AsyncSession, client: Client, settings: Settings) -> dict[str, Any]:
    loaded = load_feed_sources(settings.patch.feed_sources_path)
    ids = [source.id for source in loaded.sources]
    states = {row.source_id: row for row in
              (await session.exec(select(FeedSourceStateRow).where(col(FeedSourceStateRow.source_id).in_(ids)))).all()}
    queue = maintenance_queue(settings)
    schedules = await asyncio.gather(*(_schedule_state(client, feed_schedule_id(queue, i)) for i in ids))
    body: dict[str, Any] = {"sources": [_source_view(source, states.get(source.id), *schedule)
                                        for source, schedule in zip(loaded.sources, schedules, strict=True)]}
    if loaded.errors:
        body["errors"] = list(loaded.errors)
    return body


def feed_source_exists(settings: Settings, source_id: str) -> bool:
    return load_feed_sources(settings.patch.feed_sources_path).get(source_id) is not None
