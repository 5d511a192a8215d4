"""``GET /api/v1/events/ingest-batches`` and ``GET /api/v1/edge-agent/ingest-status``: what the workspace's
ingest recorded, and nothing of another workspace's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import text

from tests.e2e.platform_v1.ingest_support import alert, heartbeat, telemetry
from tests.e2e.platform_v1.support import V1
from tests.support import assert_error

INGEST, BATCHES, STATUS = "/events/ingest", "/events/ingest-batches", "/edge-agent/ingest-status"


async def _ingest(client: V1, source: str, *events: dict) -> dict:
    response = await client.post(INGEST, json={"source": source, "events": list(events)})
    assert response.status_code == 202, response.text
    return response.json()


async def test_batches_list_newest_first_filter_by_source_and_search(api, workspaces):
    a, b = workspaces
    ops = V1(api, "ops_engineer", workspace=a, sub="collector")
    first = await _ingest(ops, "rmm-eu-1", telemetry(), heartbeat())
    second = await _ingest(ops, "rmm-us-2", alert())
    third = await _ingest(ops, "rmm-eu-1", telemetry())
    await _ingest(V1(api, "ops_engineer", workspace=b), "rmm-eu-1", telemetry())

    viewer = V1(api, "viewer", workspace=a)
    listed = (await viewer.get(BATCHES)).json()
    assert [x["id"] for x in listed["data"]] == [third["id"], second["id"], first["id"]]
    assert listed["data"][2] == first, "a listed batch is the record its ingest answered"
    assert listed["page"] == {"limit": 50, "offset": 0, "returned": 3, "total": 3}
    assert listed["sort"] == {"by": "createdAt", "order": "desc"}

    by_source = (await viewer.get(BATCHES, params={"source": "rmm-eu-1"})).json()
    assert [x["id"] for x in by_source["data"]] == [third["id"], first["id"]]
    assert by_source["filters"] == {"source": "rmm-eu-1"} and by_source["page"]["total"] == 2
    oldest_first = (await viewer.get(BATCHES, params={"sortOrder": "asc", "limit": 2})).json()
    assert [x["id"] for x in oldest_first["data"]] == [first["id"], second["id"]]
    assert oldest_first["page"]["total"] == 3
    found = (await viewer.get(BATCHES, params={"q": "ALERT.trig"})).json()
    assert [x["id"] for x in found["data"]] == [second["id"]], "q matches the answered types, any case"
    assert (await viewer.get(BATCHES, params={"q": "US-2"})).json()["page"]["total"] == 1
    assert (await viewer.get(BATCHES, params={"q": "%"})).json()["page"]["total"] == 0, "% is a character"


async def test_batches_list_refuses_what_it_does_not_know(api, workspaces):
    viewer = V1(api, "viewer", workspace=workspaces[0])
    assert_error(await viewer.get(BATCHES, params={"topic": "x"}), 400, "unknown_parameter")
    assert_error(await viewer.get(BATCHES, params={"sortBy": "source"}), 400, "invalid_sort")
    assert_error(await viewer.get(BATCHES, params={"limit": 501}), 400, "validation_error")
    assert_error(await viewer.get(BATCHES, params={"source": "s" * 201}), 400, "validation_error")
    assert_error(await V1(api, "billing", workspace=workspaces[0]).get(BATCHES), 403, "forbidden_role")


async def test_ingest_status_sums_the_last_24_hours_by_source(api, db_engine, workspaces):
    a, b = workspaces
    agent_reader = V1(api, "viewer", workspace=a)
    empty = (await agent_reader.get(STATUS)).json()
    assert empty == {"workspaceId": a, "enrolled": False, "lastIngestAt": None,
                     "last24h": {"batches": 0, "events": 0, "duplicates": 0}, "sources": []}

    ops = V1(api, "ops_engineer", workspace=a)
    repeated = telemetry()
    await _ingest(ops, "rmm-eu-1", repeated, heartbeat())
    await _ingest(ops, "rmm-us-2", alert())
    last = await _ingest(ops, "rmm-eu-1", repeated, telemetry())  # one duplicate
    await _ingest(V1(api, "ops_engineer", workspace=b), "rmm-of-b", telemetry())
    # A batch of two days ago: outside the window, but the source's last batch.
    async with db_engine.begin() as conn:
        await conn.execute(text(
            "INSERT INTO platform_ingest_batches (id, workspace_id, source, received, accepted, duplicates, by_type, "
            "created_at) VALUES ('ibt_old', :ws, 'rmm-old', 7, 7, 0, '{}', :at)"),
            {"ws": a, "at": datetime.now(UTC) - timedelta(days=2)})

    status = (await V1(api, "endpoint_agent", workspace=a).get(STATUS)).json()
    assert status["workspaceId"] == a and status["enrolled"] is False
    assert status["lastIngestAt"] == last["createdAt"]
    assert status["last24h"] == {"batches": 3, "events": 4, "duplicates": 1}
    assert [(s["source"], s["batches"], s["events"]) for s in status["sources"]] == [
        ("rmm-eu-1", 2, 3), ("rmm-us-2", 1, 1)]
    assert status["sources"][0]["lastIngestAt"] == last["createdAt"]
    assert_error(await V1(api, "automation_operator", workspace=a).get(STATUS), 403, "forbidden_role")


async def test_ingest_status_lists_the_50_most_recent_sources(api, workspaces):
    ops = V1(api, "ops_engineer", workspace=workspaces[0])
    for n in range(52):
        await _ingest(ops, f"device-{n:02d}", heartbeat())
    status = (await ops.get(STATUS)).json()
    assert [s["source"] for s in status["sources"]] == [f"device-{n:02d}" for n in range(51, 1, -1)]
    assert status["last24h"]["batches"] == 52
