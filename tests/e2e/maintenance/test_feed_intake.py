"""Feed intake: HTTP feeds read into flow events once each, feeds that answer errors or garbage,
and the per-source Temporal Schedules the worker keeps in step with the sources file."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlmodel import delete
from sqlmodel.ext.asyncio.session import AsyncSession
from temporalio.client import ScheduleActionExecutionStartWorkflow
from temporalio.service import RPCError

from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.maintenance.tables import FeedSourceStateRow
from models.maintenance.workflow_io import FeedPollResult, feed_schedule_id
from tests.e2e.maintenance.support import finished_dispatch, seg, write_sources
from tests.fakes.feeds import github_releases_atom
from worker.schedules import ensure_schedules, maintenance_schedules

FEED_PATH = "/acme/widget/releases.atom"


def github_source(url: str, **extra) -> dict:
    return {"id": "gh", "provider": "github", "url": url, "event": "release",
            "repo": {"owner": "acme", "name": "widget", "fullName": "acme/widget",
                     "webUrl": "https://github.com/acme/widget"},
            "target": {"mode": "workspace_flow", "eventType": "upstream.release", "payload": {"channel": "stable"}},
            **extra}


def event_id(tag: str) -> str:
    return f"patch:gh:tag:github.com,2008:Repository/9654/{tag}:upstream.release"


async def test_each_entry_is_one_event_and_one_dispatch_even_when_the_cursor_is_lost(
        api, worker, settings, temporal_client, sources_path, fake_feeds, db_engine):
    url = fake_feeds.serve(FEED_PATH, github_releases_atom("acme", "widget", ["v1.1.0", "v1.0.0"]))
    write_sources(sources_path, github_source(url, primeOnly=False))

    first = (await api.post("/feed-sources/gh/poll")).json()
    assert first == {"sourceId": "gh", "primed": False, "entries": 2, "events": [event_id("v1.0.0"),
                                                                                 event_id("v1.1.0")]}
    for tag in ("v1.0.0", "v1.1.0"):
        await finished_dispatch(temporal_client, settings, event_id(tag))
    event = (await api.get(f"/flow-events/{seg(event_id('v1.1.0'))}")).json()["event"]
    assert event["payload"]["tag"] == "v1.1.0" and event["payload"]["channel"] == "stable"
    assert event["payload"]["url"] == "https://github.com/acme/widget/releases/tag/v1.1.0"

    # No automation matches an event without a fork: dispatched, and the attempt is skipped, not left started.
    attempts = (await api.get("/maintenance-attempts")).json()["attempts"]
    assert [a["status"] for a in attempts] == ["skipped", "skipped"]
    assert all(a["completedAt"] and "patch-stack-rebase" in a["message"] for a in attempts)

    async with AsyncSession(db_engine) as session:  # the cursor is lost: every entry is selected again
        await session.exec(delete(FeedSourceStateRow))
        await session.commit()
    again = (await api.post("/feed-sources/gh/poll")).json()
    assert again["events"] == [] and again["entries"] == 2
    assert len((await api.get("/flow-events")).json()["events"]) == 2
    assert len((await api.get("/workspace-dispatches")).json()["dispatches"]) == 2

    nothing_new = (await api.post("/feed-sources/gh/poll")).json()
    assert nothing_new["events"] == [] and "error" not in nothing_new


async def test_a_feed_answering_an_error_or_garbage_records_a_poll_error_and_changes_nothing(
        api, worker, sources_path, fake_feeds):
    url = fake_feeds.serve(FEED_PATH, github_releases_atom("acme", "widget", ["v1.0.0"]))
    write_sources(sources_path, github_source(url))
    assert (await api.post("/feed-sources/gh/poll")).json()["primed"] is True
    cursor = (await api.get("/feed-sources")).json()["sources"][0]["cursor"]

    fake_feeds.fail_next(500, "upstream exploded")
    failed = await api.post("/feed-sources/gh/poll")
    assert failed.status_code == 202 and failed.json()["error"] == "Feed gh returned 500"
    fake_feeds.fail_next(200, "<html><body>not a feed</body></html>", content_type="text/html")
    garbage = (await api.post("/feed-sources/gh/poll")).json()
    assert garbage["events"] == [] and garbage["error"]
    [source] = (await api.get("/feed-sources")).json()["sources"]
    assert source["lastError"] == garbage["error"] and source["cursor"] == cursor and source["lastPolledAt"]
    assert (await api.get("/flow-events")).json()["events"] == []

    fake_feeds.serve(FEED_PATH, github_releases_atom("acme", "widget", ["v1.1.0", "v1.0.0"]))
    recovered = (await api.post("/feed-sources/gh/poll")).json()
    assert recovered["events"] == [event_id("v1.1.0")] and "error" not in recovered
    assert (await api.get("/feed-sources")).json()["sources"][0]["lastError"] is None


async def scheduled_poll(client, schedule_id: str, count: int, timeout: float = 30) -> list[FeedPollResult]:
    """Await ``count`` polls the schedule started, and their results."""
    handle = client.get_schedule_handle(schedule_id)
    async with asyncio.timeout(timeout):
        while True:
            actions = (await handle.describe()).info.recent_actions
            if len(actions) >= count:
                break
            await asyncio.sleep(0.2)  # the schedule's own clock: nothing to await but its next action
        results = []
        for action in actions[:count]:
            assert isinstance(action.action, ScheduleActionExecutionStartWorkflow)
            results.append(await client.get_workflow_handle(action.action.workflow_id,
                                                            result_type=FeedPollResult).result())
    return results


async def test_each_source_is_a_schedule_that_keeps_polling_through_feed_errors(
        api, worker, settings, temporal_client, sources_path, fake_feeds):
    url = fake_feeds.serve(FEED_PATH, github_releases_atom("acme", "widget", ["v1.0.0"]))
    write_sources(sources_path, github_source(url, pollIntervalSeconds=5))
    schedule_id = feed_schedule_id(surface_task_queue(settings.temporal, WorkerSurfaceName.MAINTENANCE), "gh")
    fake_feeds.fail_next(500, times=2)
    await ensure_schedules(temporal_client, [maintenance_schedules(settings)])  # as a starting worker does
    try:
        [first] = await scheduled_poll(temporal_client, schedule_id, 1)  # created, and triggered at once
        assert first.error == "Feed gh returned 500"
        await temporal_client.get_schedule_handle(schedule_id).trigger()
        second = (await scheduled_poll(temporal_client, schedule_id, 2))[1]
        assert second.error == "Feed gh returned 500"
        description = await temporal_client.get_schedule_handle(schedule_id).describe()
        assert description.schedule.state.paused is False
        assert description.schedule.spec.intervals[0].every.total_seconds() == 30  # raised to the minimum

        [source] = (await api.get("/feed-sources")).json()["sources"]
        assert source["pollIntervalSeconds"] == 30 and source["paused"] is False and source["nextRunAt"]

        write_sources(sources_path)  # the source is removed from the file: its schedule goes
        await ensure_schedules(temporal_client, [maintenance_schedules(settings)])
        with pytest.raises(RPCError, match="not found"):
            await temporal_client.get_schedule_handle(schedule_id).describe()
    finally:
        with contextlib.suppress(RPCError):
            await temporal_client.get_schedule_handle(schedule_id).delete()


async def test_the_sources_list_never_shows_credentials_in_a_feed_url(api, sources_path, fake_feeds):
    url = fake_feeds.serve(FEED_PATH, github_releases_atom("acme", "widget", ["v1.0.0"]))
    write_sources(sources_path, github_source(url.replace("http://", "http://reader:s3cret@")))
    [source] = (await api.get("/feed-sources")).json()["sources"]
    assert source["url"] == url.replace("http://", "http://***@")
