"""A feed whose data Capstan cannot take (a version name holding NUL or a lone surrogate, a body over the
size cap, a redirect to another origin, a value Postgres refuses) ends its poll with a recorded error: the
poll answers at once, nothing is retried, the schedule keeps polling, and a fixed feed is read again."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from pathlib import Path

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowExecutionStatus
from temporalio.service import RPCError

from capstan.settings import Settings
from capstan.temporal import WorkerSurfaceName, surface_task_queue
from models.maintenance.settings import PatchSettings
from models.maintenance.workflow_io import FEED_POLL_EXECUTION_TIMEOUT, ActivityName, WorkflowName, feed_schedule_id
from tests.e2e.maintenance.support import write_sources
from tests.e2e.maintenance.test_feed_intake import scheduled_poll
from tests.fakes.feeds import JSON, npm_document
from worker.schedules import ensure_schedules, maintenance_schedules

GOOD = {"1.0.0": "2026-05-01T00:00:00.000Z"}
NUL_VERSION = {**GOOD, "1.0.1\u0000": "2026-05-02T00:00:00.000Z"}
SURROGATE_VERSION = {**GOOD, "1.0.1-\ud800": "2026-05-02T00:00:00.000Z"}


def npm_source(url: str, **extra) -> dict:
    return {"id": "npm-left-pad", "provider": "npm", "url": url, "event": "release",
            "repo": {"owner": "npm", "name": "left-pad", "fullName": "left-pad",
                     "webUrl": "https://www.npmjs.com/package/left-pad"},
            "target": {"mode": "workspace_flow", "eventType": "upstream.release"}, "primeOnly": False, **extra}


def serve_npm(fake_feeds, versions: dict[str, str]) -> str:
    # json.dumps writes NUL and a lone surrogate as \u escapes, as the registry would.
    return fake_feeds.serve("/left-pad", json.dumps(npm_document("left-pad", versions)), content_type=JSON)


async def poll_workflows(client: Client, settings: Settings) -> list:
    """The feed polls run on this test's maintenance queue, once visibility lists them all as closed."""
    queue = surface_task_queue(settings.temporal, WorkerSurfaceName.MAINTENANCE)
    query = f'WorkflowType = "{WorkflowName.FEED_POLL}" AND TaskQueue = "{queue}"'
    async with asyncio.timeout(20):
        while True:
            found = [execution async for execution in client.list_workflows(query)]
            if found and all(execution.status != WorkflowExecutionStatus.RUNNING for execution in found):
                return found
            await asyncio.sleep(0.2)  # visibility catches up on its own: nothing to await


async def poll_history(client: Client, workflow_id: str) -> tuple[list[int], timedelta | None]:
    """The attempt of each start of the poll activity in the workflow's history, and the workflow's
    execution timeout."""
    history = await client.get_workflow_handle(workflow_id).fetch_history()
    started = history.events[0].workflow_execution_started_event_attributes
    timeout = started.workflow_execution_timeout.ToTimedelta() \
        if started.HasField("workflow_execution_timeout") else None
    scheduled = {event.event_id for event in history.events
                 if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED
                 and event.activity_task_scheduled_event_attributes.activity_type.name
                 == ActivityName.POLL_FEED_SOURCE}
    attempts = [event.activity_task_started_event_attributes.attempt for event in history.events
                if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED
                and event.activity_task_started_event_attributes.scheduled_event_id in scheduled]
    return attempts, timeout


async def test_a_version_holding_nul_or_a_lone_surrogate_ends_the_poll_with_a_recorded_error(
        api, worker, settings, temporal_client, sources_path, fake_feeds):
    url = serve_npm(fake_feeds, GOOD)
    write_sources(sources_path, npm_source(url))
    first = (await api.post("/feed-sources/npm-left-pad/poll")).json()
    assert first["events"] == ["patch:npm-left-pad:npm:left-pad:1.0.0:upstream.release"]
    cursor = (await api.get("/feed-sources")).json()["sources"][0]["cursor"]

    for versions, quoted, problem in (
            (NUL_VERSION, r"'npm:left-pad:1.0.1\x00'", "holds a NUL character"),
            (SURROGATE_VERSION, r"'npm:left-pad:1.0.1-\ud800'", "holds a lone surrogate (not valid UTF-8)")):
        serve_npm(fake_feeds, versions)
        answer = await api.post("/feed-sources/npm-left-pad/poll")
        assert answer.status_code == 202, answer.text
        body = answer.json()
        assert body["events"] == [] and body["entries"] == 0
        assert body["error"] == f"Feed npm-left-pad has an entry Capstan cannot store: id {quoted} {problem}"
        [source] = (await api.get("/feed-sources")).json()["sources"]
        assert source["lastError"] == body["error"] and source["cursor"] == cursor

    polls = await poll_workflows(temporal_client, settings)
    assert len(polls) == 3 and {poll.status for poll in polls} == {WorkflowExecutionStatus.COMPLETED}
    for poll in polls:  # one try each, nothing retried; and a manual poll ends, whatever happens
        assert await poll_history(temporal_client, poll.id) == ([1], FEED_POLL_EXECUTION_TIMEOUT)

    serve_npm(fake_feeds, {**GOOD, "1.0.1": "2026-05-02T00:00:00.000Z"})  # the registry fixed it
    fixed = (await api.post("/feed-sources/npm-left-pad/poll")).json()
    assert fixed["events"] == ["patch:npm-left-pad:npm:left-pad:1.0.1:upstream.release"] and "error" not in fixed
    assert (await api.get("/feed-sources")).json()["sources"][0]["lastError"] is None


async def test_a_value_postgres_refuses_ends_the_poll_with_a_recorded_error(
        api, worker, settings, temporal_client, sources_path, fake_feeds):
    """What the reader cannot see (here the sources file's own payload holds a NUL, merged into every event)
    is refused by Postgres: that too is the poll's recorded error, not a retry."""
    url = serve_npm(fake_feeds, GOOD)
    source = npm_source(url)
    source["target"]["payload"] = {"note": "a\u0000b"}
    write_sources(sources_path, source)

    answer = await api.post("/feed-sources/npm-left-pad/poll")
    assert answer.status_code == 202, answer.text
    body = answer.json()
    assert body["events"] == [] and "Postgres refuses to store" in body["error"]
    [listed] = (await api.get("/feed-sources")).json()["sources"]
    assert listed["lastError"] == body["error"] and listed["cursor"] is None
    assert (await api.get("/flow-events")).json()["events"] == []
    [poll] = await poll_workflows(temporal_client, settings)
    assert await poll_history(temporal_client, poll.id) == ([1], FEED_POLL_EXECUTION_TIMEOUT)


@pytest.fixture
def small_feed_cap(settings: Settings, sources_path: Path) -> None:
    """``CAPSTAN_FEED_MAX_BYTES=1024``, set before the worker and the API read the settings."""
    settings.patch = PatchSettings(feed_sources_path=sources_path, feed_max_bytes=1024)


async def test_a_body_over_the_cap_is_a_poll_error_naming_the_setting(
        small_feed_cap, api, worker, sources_path, fake_feeds):
    url = fake_feeds.serve("/left-pad", json.dumps(npm_document("left-pad", GOOD)) + " " * 2048, content_type=JSON)
    write_sources(sources_path, npm_source(url))
    body = (await api.post("/feed-sources/npm-left-pad/poll")).json()
    assert body["error"] == ("Feed npm-left-pad is larger than 1024 bytes (CAPSTAN_FEED_MAX_BYTES); "
                             "reading stopped there")


async def test_the_schedule_keeps_polling_a_feed_with_bad_data(
        api, worker, settings, temporal_client, sources_path, fake_feeds):
    url = serve_npm(fake_feeds, NUL_VERSION)
    write_sources(sources_path, npm_source(url, pollIntervalSeconds=30))
    schedule_id = feed_schedule_id(surface_task_queue(settings.temporal, WorkerSurfaceName.MAINTENANCE),
                                   "npm-left-pad")
    await ensure_schedules(temporal_client, [maintenance_schedules(settings)])  # as a starting worker does
    try:
        [first] = await scheduled_poll(temporal_client, schedule_id, 1)  # created, and triggered at once
        assert "holds a NUL character" in first.error
        serve_npm(fake_feeds, GOOD)
        await temporal_client.get_schedule_handle(schedule_id).trigger()
        second = (await scheduled_poll(temporal_client, schedule_id, 2))[1]  # not skipped: the first one ended
        assert second.error is None and second.events == ["patch:npm-left-pad:npm:left-pad:1.0.0:upstream.release"]
    finally:
        with contextlib.suppress(RPCError):
            await temporal_client.get_schedule_handle(schedule_id).delete()
