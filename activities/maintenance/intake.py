"""Intake: polling a feed source into flow events, and starting one dispatch per new event.

A poll holds an advisory lock on its source for its whole run, so two polls of one source (the
schedule's and an operator's) take turns and never select the same entries from the same cursor.
Events, the cursor and the poll's result are written in one transaction; the event id is the
idempotency key, so an entry seen twice is stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

import httpx
from sqlalchemy.dialects.postgresql import insert
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from capstan.db import SessionFactory, session_scope
from integrations.feeds import FeedLimits, FeedReadError, read_feed
from integrations.feeds.errors import storable_message
from integrations.git import GitRunner
from integrations.stores.maintenance import lock, unstorable_reason
from models.maintenance.feed_config import FeedSourceConfig, load_feed_sources
from models.maintenance.feed_entries import flow_event_for, select_entries
from models.maintenance.settings import PatchSettings
from models.maintenance.tables import FeedSourceStateRow, FlowEventRow
from models.maintenance.timestamps import now_iso, parse_iso
from models.maintenance.workflow_io import (
    ActivityName,
    DispatchRequest,
    FeedPollRequest,
    FeedPollResult,
    StartDispatches,
    WorkflowName,
    flow_event_dispatch_workflow_id,
)

log = logging.getLogger(__name__)

#: Undispatched events one poll hands on at most; the next poll takes the rest.
UNDISPATCHED_BATCH = 500
#: Dispatch workflows started at once (one start is one round trip to Temporal).
START_CONCURRENCY = 16


class IntakeActivities:
    def __init__(self, sessions: SessionFactory, settings: PatchSettings, git: GitRunner,
                 temporal: Client | None) -> None:
        self.sessions = sessions
        self.settings = settings
        self.git = git
        self.temporal = temporal

    @activity.defn(name=ActivityName.POLL_FEED_SOURCE)
    async def poll_feed_source(self, request: FeedPollRequest) -> FeedPollResult:
        """The poll's result; a feed that cannot be read, or whose entries Postgres refuses, is the result's
        ``error`` (recorded as the source's ``lastError``, cursor unchanged), never a retry: its data does not
        change by trying again. Only Postgres or Temporal being away fails the activity."""
        source = load_feed_sources(self.settings.feed_sources_path).get(request.source_id)
        if source is None:
            return FeedPollResult(source_id=request.source_id, found=False,
                                  error=f"feed source {request.source_id!r} is not in the feed sources file")
        try:
            return await self._poll(source)
        except Exception as error:
            reason = unstorable_reason(error)
            if reason is None:
                raise
        message = storable_message(f"Feed {source.id} has an entry Postgres refuses to store: {reason}")
        log.warning("poll of feed source %s failed: %s", source.id, message)
        async with session_scope(self.sessions) as session:
            await lock(session, f"feed:{source.id}")
            state = await session.get(FeedSourceStateRow, source.id) or FeedSourceStateRow(source_id=source.id)
            return await _finish(session, state, FeedPollResult(source_id=source.id, error=message), now_iso())

    async def _poll(self, source: FeedSourceConfig) -> FeedPollResult:
        async with session_scope(self.sessions) as session:
            await lock(session, f"feed:{source.id}")
            state = await session.get(FeedSourceStateRow, source.id) or FeedSourceStateRow(source_id=source.id)
            now = now_iso()
            result = FeedPollResult(source_id=source.id)
            try:
                async with httpx.AsyncClient(timeout=self.settings.feed_timeout_seconds) as http:
                    entries = await read_feed(source, http=http, git=self.git, now=now,
                                              limits=FeedLimits.of(self.settings))
            except FeedReadError as error:
                result.error = storable_message(str(error))
                log.warning("poll of feed source %s failed: %s", source.id, result.error)
            else:
                result.entries = len(entries)
                selection = select_entries(source, entries, state.cursor, now)
                result.primed = selection.primed
                for entry in selection.selected:
                    event = flow_event_for(source, entry, now)
                    if event is not None and await _store_event(session, source.id, event):
                        result.events.append(event["id"])
                if selection.cursor is not None:
                    state.cursor = selection.cursor
            return await _finish(session, state, result, now)

    @activity.defn(name=ActivityName.START_DISPATCHES)
    async def start_flow_event_dispatches(self, request: StartDispatches) -> int:
        """Start the dispatch workflow of each event, once: an event whose dispatch ran (and did not
        fail) is not dispatched again."""
        assert self.temporal is not None, "the maintenance worker needs its Temporal client"
        queue = activity.info().task_queue
        client = self.temporal
        gate = asyncio.Semaphore(START_CONCURRENCY)

        async def start(event_id: str) -> bool:
            async with gate:
                with contextlib.suppress(WorkflowAlreadyStartedError):
                    try:
                        await client.start_workflow(
                            WorkflowName.FLOW_EVENT_DISPATCH, DispatchRequest(event_id=event_id),
                            id=flow_event_dispatch_workflow_id(queue, event_id), task_queue=queue,
                            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
                            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY)
                    except RPCError as error:
                        if error.status != RPCStatusCode.INVALID_ARGUMENT:
                            raise
                        # Temporal refuses the start itself (an id over its length limit): no retry helps.
                        log.error("the dispatch of %s cannot start: %s", event_id, error.message)
                        return False
                    activity.heartbeat(event_id)
                    return True
                return False

        return sum(await asyncio.gather(*(start(event_id) for event_id in request.event_ids)))


async def _finish(session: AsyncSession, state: FeedSourceStateRow, result: FeedPollResult,
                  now: str) -> FeedPollResult:
    """Record how the poll went on the source, and list its events still without a dispatch."""
    state.last_polled_at = parse_iso(now)
    state.last_error = result.error
    state.last_result = result.model_dump(mode="json", exclude={"undispatched", "found"})
    session.add(state)
    await session.flush()
    result.undispatched = list((await session.exec(
        select(FlowEventRow.id)
        .where(FlowEventRow.source_id == state.source_id, col(FlowEventRow.dispatched).is_(False))
        .order_by(col(FlowEventRow.seq)).limit(UNDISPATCHED_BATCH))).all())
    return result


async def _store_event(session: AsyncSession, source_id: str, event: dict) -> bool:
    """Store the event unless its id is known; True when it is new."""
    statement = insert(FlowEventRow).values(id=event["id"], type=event["type"], source_id=source_id, body=event,
                                            created_at=datetime.now(UTC))
    result = await session.exec(statement.on_conflict_do_nothing(index_elements=["id"]).returning(FlowEventRow.seq))
    return result.first() is not None
